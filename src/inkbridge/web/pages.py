"""The dashboard page and the capture snippet: static, dependency-free HTML and JavaScript that
talk to the public API (the dashboard with a bearer token the operator pastes in)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

DASHBOARD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>inkbridge dashboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.35rem .5rem;
border-bottom:1px solid #d0d7de;font-size:.9rem} .state{font-weight:600}
#status{color:#57606a} .error{color:#cf222e} label{display:block;margin:.5rem 0}
input{width:28rem;max-width:100%;padding:.3rem}
</style></head>
<body>
<h1>inkbridge</h1>
<form id="auth"><label for="token">API token (read scope)</label>
<input id="token" type="password" autocomplete="off" required>
<button type="submit">Show</button></form>
<p id="status" role="status"></p>
<h2>Envelopes</h2>
<table aria-label="envelopes"><thead><tr><th>envelope</th><th>state</th><th>template</th>
<th>campaign</th><th>updated</th></tr></thead><tbody id="envelopes"></tbody></table>
<h2>Dead letters</h2>
<p id="dead">—</p>
<script>
const $ = (id) => document.getElementById(id);
function cell(text, cls){const td=document.createElement('td');td.textContent=text??'';
 if(cls)td.className=cls;return td;}
async function load(token){
  const headers={Authorization:'Bearer '+token};
  const res=await fetch('/v1/envelopes?limit=50',{headers});
  if(!res.ok){$('status').textContent='The API refused the token ('+res.status+').';
    $('status').className='error';return;}
  sessionStorage.setItem('inkbridge-token',token);
  const body=await res.json(); const rows=$('envelopes'); rows.replaceChildren();
  for(const e of body.envelopes){const tr=document.createElement('tr');
    tr.append(cell(e.id),cell(e.state,'state'),cell(e.template_key),cell(e.campaign),
      cell(e.updated_at));rows.append(tr);}
  $('status').className='';$('status').textContent=body.envelopes.length+' envelopes';
  const dl=await fetch('/v1/admin/dead-letters',{headers});
  $('dead').textContent=dl.ok?((await dl.json()).dead_letters.length+' dead letters')
    :'needs the admin scope';
}
$('auth').addEventListener('submit',(ev)=>{ev.preventDefault();load($('token').value);});
const saved=sessionStorage.getItem('inkbridge-token');
if(saved){$('token').value=saved;load(saved);}
</script></body></html>
"""

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


async def dashboard(_request: Request) -> Response:
    return HTMLResponse(DASHBOARD)


async def home(_request: Request) -> Response:
    # The start banner prints the server's address: opening it lands somewhere useful.
    return RedirectResponse("/dashboard", status_code=307)


async def capture_snippet(_request: Request) -> Response:
    return Response(CAPTURE, media_type="application/javascript")


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/dashboard", dashboard, methods=["GET"]),
    Route("/capture.js", capture_snippet, methods=["GET"]),
]
