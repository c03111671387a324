// Starts the API reference on /docs (loaded after /vendor/swagger-ui/swagger-ui-bundle.js).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#api-reference",
  deepLinking: true,
  // The default validator badge loads an image from validator.swagger.io: not offline, not wanted.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  defaultModelsExpandDepth: 0,
  docExpansion: "list",
});
