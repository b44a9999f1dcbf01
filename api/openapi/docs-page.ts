/**
 * `/docs`: a static page that renders /openapi.json in the browser — inline script, no external
 * resources (the server may have no internet). Every operation with its authentication, parameters,
 * request body and responses of any media type; then the component schemas.
 */
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DeviceRollout API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 2rem;color:#222}
h1{margin-bottom:.2rem} .op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.2rem .8rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.patch{color:#c80}.delete{color:#c33}.head{color:#777}
code,pre{background:#f5f5f5;border-radius:4px} pre{padding:.6rem;overflow:auto;font-size:.85rem}
summary{cursor:pointer} table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
</style></head>
<body><h1>DeviceRollout API</h1><p id="desc"></p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>
<div id="ops">Loading…</div><h2>Schemas</h2><div id="schemas"></div>
<script>
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const refName = (r) => r && r.$ref ? r.$ref.split('/').pop() : null;
const schemaLink = (s) => { const n = refName(s); return n ? '<a href="#schema-' + esc(n) + '">' + esc(n) + '</a>' : '<code>' + esc(JSON.stringify(s)) + '</code>'; };
// JSON bodies by schema; other media types (multipart, SyncML, files, plists) by type and schema
const media = (content) => Object.entries(content || {}).map(([type, m]) => (type === 'application/json' ? '' : '<code>' + esc(type) + '</code> ') + (m.schema ? schemaLink(m.schema) : '')).join('<br>');
fetch('/openapi.json').then((r) => r.json()).then((doc) => {
  document.getElementById('desc').textContent = doc.info.description || '';
  let html = '';
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      html += '<div class="op"><details><summary><span class="m ' + method + '">' + method + '</span> <code>' + esc(path) + '</code> — ' + esc(op.summary || '') + '</summary>';
      if (op.description) html += '<p>' + esc(op.description) + '</p>';
      if (op.parameters && op.parameters.length) {
        html += '<table><tr><th>parameter</th><th>in</th><th>schema</th></tr>';
        for (const p of op.parameters) html += '<tr><td>' + esc(p.name) + '</td><td>' + esc(p.in) + '</td><td><code>' + esc(JSON.stringify(p.schema)) + '</code></td></tr>';
        html += '</table>';
      }
      const auth = (op.security || doc.security || []).map((s) => Object.keys(s).join(' + ') || 'none').join(' or ') || 'none';
      html += '<p>Authentication: ' + esc(auth) + '</p>';
      if (op.requestBody) html += '<p>Body: ' + media(op.requestBody.content) + '</p>';
      html += '<table><tr><th>status</th><th>meaning</th><th>body</th></tr>';
      for (const [code, r] of Object.entries(op.responses || {})) {
        html += '<tr><td>' + esc(code) + '</td><td>' + esc(r.description || '') + '</td><td>' + media(r.content) + '</td></tr>';
      }
      html += '</table></details></div>';
    }
  }
  document.getElementById('ops').innerHTML = html;
  let sh = '';
  for (const [name, s] of Object.entries(doc.components.schemas)) {
    sh += '<details id="schema-' + esc(name) + '"><summary><b>' + esc(name) + '</b> ' + esc(s.description || '') + '</summary><pre>' + esc(JSON.stringify(s, null, 2)) + '</pre></details>';
  }
  document.getElementById('schemas').innerHTML = sh;
}).catch((e) => { document.getElementById('ops').textContent = 'Could not load /openapi.json: ' + e; });
</script></body></html>
`;
