// Vite's ?raw imports (the vendored Chatwoot schemas in test/chatwoot/swagger): the file's text.
declare module "*?raw" {
  const text: string;
  export default text;
}
