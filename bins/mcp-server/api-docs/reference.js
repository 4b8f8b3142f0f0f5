// Starts Swagger UI on this server's OpenAPI document. "Authorize" takes a token from
// POST /auth/token (or the console); "Try it out" then calls this server with it.
window.addEventListener('DOMContentLoaded', () => {
  window.ui = window.SwaggerUIBundle({
    url: '/api-docs/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
    validatorUrl: null,
  });
});
