"""``GET /docs``: a self-contained page that renders ``/openapi.json`` (no CDN, no network):
every route with its parameters, request body and answers, schemas resolved inline."""

from __future__ import annotations

from aiohttp import web

from plugins.api.routes import Call, Response, Route

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hookwire API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;color:#222}
h1{margin-bottom:.2rem} .intro{color:#555} h2{margin-top:2rem;border-bottom:1px solid #ddd}
details{border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.3rem .7rem}
summary{cursor:pointer} .m{display:inline-block;width:4.5rem;font-weight:600;font-family:monospace}
.GET{color:#0a6} .POST{color:#06c} .PUT{color:#a60} .DELETE{color:#c22}
code,pre{font-family:ui-monospace,monospace;font-size:13px} pre{background:#f6f6f6;padding:.5rem;overflow:auto}
.lock{color:#999;font-size:12px} table{border-collapse:collapse} td{padding:.1rem .6rem .1rem 0;vertical-align:top}
</style></head><body>
<h1>hookwire API</h1><p class="intro" id="intro">Loading <a href="/openapi.json">/openapi.json</a> …</p>
<div id="api"></div>
<script>
"use strict";
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid);
  return node;
};
function resolve(doc, schema, seen = new Set()) {
  if (!schema || typeof schema !== "object") return schema;
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    if (seen.has(name)) return {"$ref": name};
    return resolve(doc, doc.components.schemas[name], new Set([...seen, name]));
  }
  if (Array.isArray(schema)) return schema.map(s => resolve(doc, s, seen));
  const out = {};
  for (const [k, v] of Object.entries(schema)) out[k] = resolve(doc, v, seen);
  return out;
}
const pretty = (doc, schema) => el("pre", {}, JSON.stringify(resolve(doc, schema), null, 2));
fetch("/openapi.json").then(r => r.json()).then(doc => {
  document.getElementById("intro").textContent = doc.info.description + " Version " + doc.info.version + ".";
  const byTag = {};
  for (const [path, ops] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(ops)) (byTag[op.tags[0]] ||= []).push([path, method, op]);
  const root = document.getElementById("api");
  for (const [tag, ops] of Object.entries(byTag)) {
    root.append(el("h2", {}, tag));
    for (const [path, method, op] of ops) {
      const m = method.toUpperCase();
      const box = el("details", {}, el("summary", {}, el("span", {class: "m " + m}, m), el("code", {}, path),
        " — " + op.summary, op.security && op.security.length ? el("span", {class: "lock"}, "  (X-Api-Key)") : ""));
      if (op.description) box.append(el("p", {}, op.description));
      if (op.parameters) {
        const table = el("table");
        for (const p of op.parameters)
          table.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in + (p.required ? ", required" : "")),
            el("td", {}, el("code", {}, JSON.stringify(resolve(doc, p.schema))))));
        box.append(el("h4", {}, "Parameters"), table);
      }
      if (op.requestBody) box.append(el("h4", {}, "Request body"), pretty(doc, op.requestBody.content["application/json"].schema));
      box.append(el("h4", {}, "Responses"));
      for (const [status, answer] of Object.entries(op.responses)) {
        box.append(el("p", {}, el("b", {}, status), " " + answer.description));
        for (const [media, body] of Object.entries(answer.content || {}))
          if (status < 400) box.append(el("div", {}, el("code", {}, media)), pretty(doc, body.schema));
      }
      root.append(box);
    }
  }
}).catch(err => { document.getElementById("intro").textContent = "Cannot load /openapi.json: " + err; });
</script></body></html>
"""


async def docs(call: Call) -> web.StreamResponse:
    return web.Response(text=PAGE, content_type="text/html")


async def openapi(call: Call) -> web.StreamResponse:
    return web.Response(body=call.api.openapi_json(), content_type="application/json")


ROUTES = [
    Route("GET", "/openapi.json", openapi, "This API, as an OpenAPI 3.1 document", "operations",
          {200: Response("the document", media="application/json", schema={"type": "object"})},
          public=True),
    Route("GET", "/docs", docs, "The API documentation, rendered from /openapi.json", "operations",
          {200: Response("an HTML page", media="text/html", schema={"type": "string"})},
          public=True),
]
