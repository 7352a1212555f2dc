"""``/openapi.json`` and the API explorer at ``/`` and ``/docs``: Swagger UI served from the
installed package (no CDN, nothing from the network), over a document that names the loaded
engines and events (clicked through in a browser: ``test_api_pages.py``)."""

from __future__ import annotations

import re

from api_service import API_KEY, build, serving

from plugins.api.docs import SWAGGER_STATIC


async def test_the_explorer_is_swagger_ui_from_the_package_over_the_document(tmp_path):
    async with serving(build(tmp_path)) as api:
        pages = []
        for path in ("/", "/docs"):
            async with api.http.get(api.base + path) as response:
                assert response.status == 200 and response.content_type == "text/html"
                pages.append(await response.text())
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", pages[0])
        served = {}
        for asset in assets:
            assert asset.startswith("/"), asset  # no CDN, no remote asset
            async with api.http.get(api.base + asset) as response:
                assert response.status == 200, asset
                served[asset] = await response.read()
        bundle = served["/docs/static/swagger-ui-bundle.js"]
        assert bundle == (SWAGGER_STATIC / "swagger-ui-bundle.js").read_bytes()  # the package's file
        assert re.search(rb'"5\.\d+\.\d+"', bundle)  # Swagger UI 5: renders OpenAPI 3.1
        code, _ = await api.get("/docs/static/swagger-editor.js")  # only the files the page uses
        assert code == 404
        code, document = await api.get("/openapi.json")
    assert pages[0] == pages[1]
    assert '"url": "/openapi.json"' in pages[0] and '"validatorUrl": null' in pages[0]
    assert code == 200
    create = document["paths"]["/api/sessions"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SessionCreate"}
    schemas = document["components"]["schemas"]
    assert schemas["SessionCreate"]["properties"]["engine"]["anyOf"][0] == {"enum": ["SCRIPTED"]}
    events = schemas["WebhookBody"]["properties"]["events"]["items"]["enum"]
    assert "*" in events and "message" in events and "session.status" in events
    assert schemas["SessionCreate"]["additionalProperties"] is False  # unknown fields: refused
    qr = document["paths"]["/api/{session}/auth/qr"]["get"]["responses"]["200"]["content"]
    assert set(qr) == {"application/json", "image/png"}
    assert document["paths"]["/metrics"]["get"]["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}}
    listing = document["paths"]["/api/deliveries"]["get"]
    assert "X-Next-Cursor" in listing["responses"]["200"]["headers"]
    assert {p["name"] for p in listing["parameters"]} >= {"cursor", "order", "since", "until", "status"}
    assert "/docs/static/{name}" not in document["paths"]
    assert "security" not in create  # no key configured: nothing to send
    assert "securitySchemes" not in document["components"]


async def test_with_a_key_the_document_has_the_authorize_scheme(tmp_path):
    async with serving(build(tmp_path, api={"api_key": API_KEY}), key=API_KEY) as api:
        code, document = await api.get("/openapi.json")
    assert document["components"]["securitySchemes"] == {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}
    assert document["paths"]["/api/sessions"]["get"]["security"] == [{"ApiKey": []}]
    assert "security" not in document["paths"]["/docs"]["get"]  # the page itself is public
