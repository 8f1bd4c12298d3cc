// The API documentation pages (/docs: Swagger UI, /redoc: ReDoc), from files served by this server only (the same
// Content-Security-Policy as the console: no inline script, nothing from another host). Once keys exist the
// OpenAPI document needs one: the key of this tab's console session is used, or the page asks for one.
(function () {
  'use strict';
  var KEY = 'cityeye.key'; // the console's sessionStorage entry

  function withKey(headers) {
    var key = sessionStorage.getItem(KEY);
    if (key) headers['X-API-Key'] = key;
    return headers;
  }

  function askKey(message) {
    var form = document.getElementById('docs-key');
    document.getElementById('docs-key-message').textContent = message;
    form.hidden = false;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var key = document.getElementById('docs-key-input').value.trim();
      if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
      location.reload();
    });
  }

  function show(spec) {
    var ui = document.getElementById('ui');
    if (document.body.dataset.ui === 'redoc') {
      // no search box: its index runs in a worker made from a blob: URL, which the policy (script-src 'self') refuses
      window.Redoc.init(spec, { disableSearch: true }, ui);
      return;
    }
    window.SwaggerUIBundle({
      spec: spec,
      domNode: ui,
      requestInterceptor: function (request) { withKey(request.headers); return request; },
    });
  }

  function start() {
    fetch('/openapi.json', { headers: withKey({}) }).then(function (response) {
      return response.json().then(function (body) {
        if (response.ok) { show(body); return; }
        askKey(response.status + ': ' + (body && typeof body.detail === 'string' ? body.detail : response.statusText));
      });
    }).catch(function (err) { askKey(String(err)); });
  }

  document.addEventListener('DOMContentLoaded', start);
})();
