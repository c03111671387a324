/** A raw path segment decoded like the router does: a malformed %-sequence stays as it is (and then names no inbox). */
export function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
