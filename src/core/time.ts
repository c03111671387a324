/** API timestamps are ISO 8601 UTC strings; storage keeps integer milliseconds. */
export function iso(ms: number): string;
export function iso(ms: number | null | undefined): string | null;
export function iso(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined) return null;
  // Exactly Date#toISOString, faster (a history page writes 200–300 of them: ≈ 0.5 µs each through a Date, a
  // sixth of the page's own work in a CPU profile, bench/README.md fourth pass): the date part is formatted by
  // Date once per UTC day and kept for the next call; the time of day from the number. Anything else (a
  // fraction, a time outside Date's range, which throws) goes through Date as before.
  if (!Number.isSafeInteger(ms) || ms > MAX_TIME || ms < -MAX_TIME) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY);
  if (day !== lastDay) {
    lastDayPrefix = new Date(day * DAY).toISOString().slice(0, -13); // "YYYY-MM-DDT" (or ±YYYYYY-MM-DDT)
    lastDay = day;
  }
  let rest = ms - day * DAY;
  const milli = rest % 1000;
  rest = (rest - milli) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  return `${lastDayPrefix}${TWO_DIGITS[(rest - minute) / 60]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[second]}.${THREE_DIGITS[milli]}Z`;
}

const DAY = 86_400_000;
/** Date's range: ±100,000,000 days around 1970. */
const MAX_TIME = 8.64e15;
const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0"));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
/** The last UTC day iso() formatted and its date part: one entry, replaced by the next day's. */
let lastDay = Number.NaN;
let lastDayPrefix = "";
