"""The Keyfactor-compatible JSON routes and this service's own routes, with their OpenAPI
document and reference page."""
