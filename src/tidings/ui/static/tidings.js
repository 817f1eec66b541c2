// Tidings' own script (no inline scripts: the pages' CSP allows only files
// served from here). htmx requests carry the session's CSRF token in a header,
// read from the page's <meta name="csrf-token">; forms carry it in a field.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.content;
  }
});
