"""The capture snippet (static, dependency-free JavaScript landing pages load) and the
redirects of ``/`` and the former ``/dashboard`` to the console (``web.console``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

CAPTURE = """// inkbridge capture snippet: records this visit's touch (UTM fields, click ids,
// referrer, landing page) under an anonymous id, so the first touch is known at conversion.
// Include it as <script src=".../capture.js" data-key="pk_..."></script>: the publishable key
// admits touches from the origins it allows only. The server dates the touch itself.
(function () {
  var script = document.currentScript;
  var base = (script && script.src) ? new URL(script.src).origin : '';
  var publishable = script ? script.getAttribute('data-key') : null;
  if (!publishable) {
    console.warn('inkbridge: capture.js needs data-key="pk_..." on its script tag');
    return;
  }
  var key = 'inkbridge-anonymous-id';
  var id = localStorage.getItem(key);
  if (!id) {
    id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
    localStorage.setItem(key, id);
  }
  var q = new URLSearchParams(location.search);
  var touch = {anonymous_id: id, referrer: document.referrer || null,
               landing_page: location.origin + location.pathname, click_ids: {}};
  ['utm_source','utm_medium','utm_campaign','utm_term','utm_content'].forEach(function (k) {
    if (q.get(k)) touch[k] = q.get(k);
  });
  ['gclid','fbclid','msclkid','li_fat_id','ttclid','wbraid','gbraid'].forEach(function (k) {
    if (q.get(k)) touch.click_ids[k] = q.get(k);
  });
  window.inkbridge = {anonymousId: id};
  // text/plain keeps it a simple request: no CORS preflight from the landing page's origin.
  fetch(base + '/v1/touchpoints?key=' + encodeURIComponent(publishable),
        {method: 'POST', headers: {'content-type': 'text/plain'},
        body: JSON.stringify(touch), keepalive: true, mode: 'no-cors'});
})();
"""


async def to_console(_request: Request) -> Response:
    # The start banner prints the server's address: opening it (or the dashboard's former
    # address) lands on the console, which asks to sign in first.
    return RedirectResponse("/console", status_code=307)


async def capture_snippet(_request: Request) -> Response:
    return Response(CAPTURE, media_type="application/javascript")


ROUTES = [
    Route("/", to_console, methods=["GET"]),
    Route("/dashboard", to_console, methods=["GET"]),
    Route("/capture.js", capture_snippet, methods=["GET"]),
]
