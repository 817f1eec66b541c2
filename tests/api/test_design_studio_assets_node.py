"""Design Studio and assets through the official Node client (`customerio-node@5.2.0`),
unchanged, against the real TLS server; uploads' limits and public URLs over HTTP."""

from __future__ import annotations

import ssl

import httpx

from tests.api.node_runner import requires
from tests.api.test_app_objects_node import call, ok, run
from tests.api.test_send import captured

pytestmark = requires("customerio-node")

NODE_SCRIPT = "calls.mjs"  # the `node` fixture (tests/api/conftest.py) runs it

GIF = "GIF89a tiny"  # the client sends a string `data` as its UTF-8 bytes


def trusting(server) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca_path)


def test_the_node_client_manages_design_studio_folders_emails_and_components(
    node, server, api, other_api
):
    made = run(
        node,
        server,
        api,
        call("folder", "createDesignStudioFolder", {"name": "Onboarding"}),
        call("badFolder", "createDesignStudioFolder", {"name": "x", "parent_folder_id": "nope"}),
    )
    folder = ok(made, "folder")["folder"]
    assert folder["name"] == "Onboarding" and folder["parent_folder_id"] is None
    assert made["badFolder"]["statusCode"] == 400
    email = {
        "name": "Welcome",
        "parent_folder_id": folder["id"],
        "is_template": True,
        "content": {"subject": "Hi {{customer.first_name}}", "html": "<p>Welcome</p>"},
        "envelope": {"from_id": 1},
    }
    seen = run(
        node,
        server,
        api,
        call("email", "createDesignStudioEmail", email),
        call("sub", "createDesignStudioFolder", {"name": "Deep", "parent_folder_id": folder["id"]}),
        call(
            "component",
            "createDesignStudioComponent",
            {"name": "Footer", "tag": "footer", "content": "<footer/>"},
        ),
        call("sameTag", "createDesignStudioComponent", {"name": "Again", "tag": "footer"}),
    )
    created = ok(seen, "email")["email"]
    seen_sub = seen
    assert created["content"]["subject"] == "Hi {{customer.first_name}}"
    assert created["is_template"] is True and created["languages"] == []
    assert seen["sameTag"]["statusCode"] == 400
    email_id, component_id = created["id"], ok(seen, "component")["component"]["id"]
    seen = run(
        node,
        server,
        api,
        call("update", "updateDesignStudioEmail", email_id, {"content": {"text": "Welcome"}}),
        call(
            "fr",
            "createDesignStudioEmailLanguage",
            email_id,
            {"language": "fr", "content": {"subject": "Salut"}},
        ),
        call("frAgain", "createDesignStudioEmailLanguage", email_id, {"language": "fr"}),
        call(
            "frUpdate",
            "updateDesignStudioEmailLanguage",
            email_id,
            "fr",
            {"content": {"html": "<p>Bienvenue</p>"}},
        ),
        call("frGet", "getDesignStudioEmailLanguage", email_id, "fr"),
        call("langs", "listDesignStudioEmailLanguages", email_id),
        call("get", "getDesignStudioEmail", email_id),
        call("inFolder", "listDesignStudioEmails", {"parentFolderId": folder["id"]}),
        call("translated", "listDesignStudioEmails", {"hasTranslations": "true"}),
        call("untranslated", "listDesignStudioEmails", {"hasTranslations": "false"}),
        call("folders", "listDesignStudioFolders", {"sortBy": "name", "sortOrder": "desc"}),
        call("rootOnly", "listDesignStudioFolders", {"directDescendantsOnly": True}),
        call("components", "listDesignStudioComponents", {"tag": "footer"}),
        call("compUpdate", "updateDesignStudioComponent", component_id, {"content": "<p>f</p>"}),
        call("comp", "getDesignStudioComponent", component_id),
        call("folderRename", "updateDesignStudioFolder", folder["id"], {"name": "Start"}),
        call("notEmpty", "deleteDesignStudioFolder", folder["id"]),
        call("badSort", "listDesignStudioEmails", {"sortBy": "size"}),
    )
    assert ok(seen, "update") == {} and seen["frAgain"]["statusCode"] == 409
    fr = ok(seen, "frGet")["email_translation"]
    assert fr["content"] == {
        "subject": "Salut",
        "html": "<p>Bienvenue</p>",
        "text": "Welcome",  # inherited from the default language
    }
    assert [t["language"] for t in ok(seen, "langs")["email_translations"]] == ["fr"]
    got = ok(seen, "get")["email"]
    assert got["content"]["text"] == "Welcome" and got["languages"] == ["fr"]
    listed = ok(seen, "inFolder")
    assert [e["id"] for e in listed["emails"]] == [email_id]
    assert [f["name"] for f in listed["folders"]] == ["Deep"]
    assert listed["meta"] == {"page": 1, "limit": 1000, "total": 1}
    assert len(ok(seen, "translated")["emails"]) == 1
    assert ok(seen, "untranslated")["emails"] == []
    assert [f["name"] for f in ok(seen, "folders")["folders"]] == ["Onboarding", "Deep"]
    assert [f["name"] for f in ok(seen, "rootOnly")["folders"]] == ["Onboarding"]
    assert [c["tag"] for c in ok(seen, "components")["components"]] == ["footer"]
    assert ok(seen, "comp")["component"]["content"] == "<p>f</p>"
    assert seen["notEmpty"]["statusCode"] == 409
    assert seen["badSort"]["statusCode"] == 400
    # Another workspace sees none of it.
    theirs = run(
        node,
        server,
        other_api,
        call("get", "getDesignStudioEmail", email_id),
        call("delete", "deleteDesignStudioComponent", component_id),
        call("lang", "getDesignStudioEmailLanguage", email_id, "fr"),
        call("list", "listDesignStudioEmails"),
    )
    assert theirs["get"]["statusCode"] == 404 and theirs["delete"]["statusCode"] == 404
    assert theirs["lang"]["statusCode"] == 404 and ok(theirs, "list")["emails"] == []
    gone = run(
        node,
        server,
        api,
        call("frDelete", "deleteDesignStudioEmailLanguage", email_id, "fr"),
        call("delete", "deleteDesignStudioEmail", email_id),
        call("again", "getDesignStudioEmail", email_id),
        call("compDelete", "deleteDesignStudioComponent", component_id),
        call("subDelete", "deleteDesignStudioFolder", ok(seen_sub, "sub")["folder"]["id"]),
        call("folderDelete", "deleteDesignStudioFolder", folder["id"]),
        call("folderAgain", "getDesignStudioFolder", folder["id"]),
    )
    assert ok(gone, "frDelete") == {} and ok(gone, "delete") == {}
    assert gone["again"]["statusCode"] == 404 and ok(gone, "compDelete") == {}
    assert ok(gone, "subDelete") == {} and ok(gone, "folderDelete") == {}
    assert gone["folderAgain"]["statusCode"] == 404


def test_the_node_client_uploads_lists_and_deletes_assets(node, server, api, other_api):
    seen = run(
        node,
        server,
        api,
        call("folder", "createAssetFolder", {"name": "Logos"}),
    )
    folder_id = ok(seen, "folder")["folder"]["id"]
    upload = {"data": GIF, "filename": "logo.gif", "name": "Logo", "parentFolderId": folder_id}
    seen = run(
        node,
        server,
        api,
        call("upload", "createAsset", upload),
        call("pdf", "createAsset", {"data": "%PDF-1.4 x", "filename": "terms.pdf"}),
        call(
            "html",
            "createAsset",
            {"data": "<script>", "filename": "x.html", "contentType": "text/html"},
        ),
        call("liar", "createAsset", {"data": "<script>", "filename": "x.png"}),
        call(
            "badFolder", "createAsset", {"data": GIF, "filename": "a.gif", "parentFolderId": 999999}
        ),
    )
    asset = ok(seen, "upload")["asset"]
    assert (asset["name"], asset["filename"], asset["type"]) == ("Logo", "logo.gif", "image/gif")
    assert asset["size"] == len(GIF) and asset["parent_folder_id"] == folder_id
    assert ok(seen, "pdf")["asset"]["type"] == "application/pdf"
    assert seen["html"]["statusCode"] == 400 and seen["liar"]["statusCode"] == 400
    assert seen["badFolder"]["statusCode"] == 400
    # The public URL serves the bytes, typed, to anyone holding it.
    served = httpx.get(asset["url"], verify=trusting(server))
    assert served.status_code == 200 and served.content == GIF.encode()
    assert served.headers["content-type"] == "image/gif"
    assert served.headers["x-content-type-options"] == "nosniff"
    token = asset["url"].split("/assets/")[1].split("/")[0]
    assert len(token) == 32
    seen = run(
        node,
        server,
        api,
        call("get", "getAsset", asset["id"]),
        call("inFolder", "listAssets", {"parentFolderId": folder_id}),
        call("all", "listAssets"),
        call("rename", "updateAsset", asset["id"], {"name": "Brand"}),
        call("renamed", "getAsset", asset["id"]),
        call("folders", "listAssetFolders"),
        call("folderRename", "updateAssetFolder", folder_id, {"name": "Brand"}),
        call("folderGet", "getAssetFolder", folder_id),
        call("notEmpty", "deleteAssetFolder", folder_id),
    )
    assert ok(seen, "get")["asset"]["url"] == asset["url"]
    assert [a["id"] for a in ok(seen, "inFolder")["assets"]] == [asset["id"]]
    assert len(ok(seen, "all")["assets"]) == 2 and ok(seen, "all")["meta"]["total"] == 2
    assert ok(seen, "renamed")["asset"]["name"] == "Brand"
    assert [f["id"] for f in ok(seen, "folders")["folders"]] == [folder_id]
    assert ok(seen, "folderGet")["folder"]["name"] == "Brand"
    assert seen["notEmpty"]["statusCode"] == 409
    theirs = run(
        node,
        server,
        other_api,
        call("get", "getAsset", asset["id"]),
        call("delete", "deleteAsset", asset["id"]),
        call("folder", "getAssetFolder", folder_id),
        call("list", "listAssets"),
    )
    assert theirs["get"]["statusCode"] == 404 and theirs["delete"]["statusCode"] == 404
    assert theirs["folder"]["statusCode"] == 404 and ok(theirs, "list")["assets"] == []
    seen = run(
        node,
        server,
        api,
        call("delete", "deleteAsset", asset["id"]),
        call("again", "getAsset", asset["id"]),
        call("folderDelete", "deleteAssetFolder", folder_id),
    )
    assert ok(seen, "delete") == {} and seen["again"]["statusCode"] == 404
    assert ok(seen, "folderDelete") == {}
    assert httpx.get(asset["url"], verify=trusting(server)).status_code == 404


def upload(api, data: bytes, content_type: str = "image/png") -> httpx.Response:
    files = {"file": ("a.png", data, content_type)}
    return api.app("POST", "/v1/assets/files", files=files)


PNG = b"\x89PNG\r\n\x1a\n"


def test_uploads_over_the_size_limit_are_413_and_store_nothing(server, api):
    limit = 2 * 1024 * 1024
    just = upload(api, PNG + b"\0" * (limit - len(PNG)))
    assert just.status_code == 200, just.text
    over = upload(api, PNG + b"\0" * (limit - len(PNG) + 1))
    assert over.status_code == 413, over.text
    assert over.json()["meta"]["error"] == f"the file is larger than the limit of {limit} bytes"
    # Far past the limit, the declared length alone is refused, before the body is read.
    huge = upload(api, PNG + b"\0" * (limit + 200_000))
    assert huge.status_code == 413
    assert huge.json()["meta"]["error"] == "request body too large"
    listed = api.app("GET", "/v1/assets").json()["assets"]
    assert [a["size"] for a in listed if a["size"] > limit - 10] == [limit]


def test_uploads_of_other_types_or_not_forms_are_400(api):
    assert upload(api, b"<svg/>", "image/svg+xml").status_code == 400
    response = api.app("POST", "/v1/assets/files", json={"file": "x"})
    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["meta"]["error"]
    no_file = api.app("POST", "/v1/assets/files", files={"name": (None, "x")})
    assert no_file.status_code == 400
    files = {"file": ("a.png", PNG, "image/png"), "name": (None, "a\x00b")}
    nul = api.app("POST", "/v1/assets/files", files=files)
    assert nul.status_code == 400 and "NUL" in nul.json()["meta"]["error"]
    long_name = {"file": ("x" * 300 + ".png", PNG, None)}
    named = api.app("POST", "/v1/assets/files", files=long_name)
    assert named.status_code == 200, named.text
    assert named.json()["asset"]["name"] == "x" * 255


def test_an_unknown_public_url_is_404(server):
    response = httpx.get(server.url + "/assets/" + "A" * 32 + "/a.png", verify=trusting(server))
    assert response.status_code == 404


def test_a_transactional_message_sends_a_design_studio_email(node, server, api):
    email = {
        "name": "Receipt",
        "content": {
            "subject": "Receipt {{ trigger.order }}",
            "preheader_text": "Thanks",
            "html": "<p>Order {{ trigger.order }}</p>",
            "text": "Order {{ trigger.order }}",
        },
    }
    seen = run(node, server, api, call("email", "createDesignStudioEmail", email))
    email_id = ok(seen, "email")["email"]["id"]
    translation = {"language": "fr", "content": {"subject": "Reçu {{ trigger.order }}"}}
    run(node, server, api, call("fr", "createDesignStudioEmailLanguage", email_id, translation))
    body = {
        "name": "receipt",
        "channel": "email",
        "contents": {"": {"design_studio_email_id": email_id}},
    }
    response = api.app("POST", "/v1/transactional", json=body)
    assert response.status_code == 200, response.text
    message_id = response.json()["message"]["id"]
    linked = run(
        node,
        server,
        api,
        call("linked", "listDesignStudioEmails", {"isLinked": "true"}),
        call("unlinked", "listDesignStudioEmails", {"isLinked": "false"}),
    )
    assert [e["id"] for e in ok(linked, "linked")["emails"]] == [email_id]
    assert email_id not in [e["id"] for e in ok(linked, "unlinked")["emails"]]

    def post(**extra: object) -> httpx.Response:
        body = {
            "transactional_message_id": message_id,
            "identifiers": {"id": "buyer"},
            "to": "buyer@example.com",
            "from": "shop@example.net",
            **extra,
        }
        return api.app("POST", "/v1/send/email", json=body)

    def send(**extra: object) -> dict:
        answer = post(message_data={"order": 42}, **extra)
        assert answer.status_code == 200, answer.text
        return captured(api, answer.json()["delivery_id"])["message"]

    sent = send()
    assert sent["subject"] == "Receipt 42"
    assert "<p>Order 42</p>" in sent["html"] and sent["text"] == "Order 42"
    french = send(language="fr")
    assert french["subject"] == "Reçu 42"  # the translation's subject
    assert "<p>Order 42</p>" in french["html"]  # the default language's HTML, inherited
    unknown = api.app(
        "PUT",
        f"/v1/transactional/{message_id}/language/de",
        json={"design_studio_email_id": "no-such-email"},
    )
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["meta"]["error"] == "design_studio_email_id names no Design Studio email"
    run(node, server, api, call("delete", "deleteDesignStudioEmail", email_id))
    gone = post()
    assert gone.status_code == 400
    assert "Design Studio email" in gone.json()["meta"]["error"]
