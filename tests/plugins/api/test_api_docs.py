"""``/openapi.json`` and ``/docs``: the document names the loaded engines and events, and the
docs page renders it without anything from the network."""

from __future__ import annotations

import re

from api_service import build, serving


async def test_the_docs_page_is_self_contained_and_renders_the_document(tmp_path):
    async with serving(build(tmp_path)) as api:
        async with api.http.get(api.base + "/docs") as response:
            assert response.status == 200 and response.content_type == "text/html"
            page = await response.text()
        code, document = await api.get("/openapi.json")
    assert code == 200
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no CDN, no remote asset
    assert "fetch(\"/openapi.json\")" in page and "<script>" in page
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
    assert "security" not in create  # no key configured: nothing to send
