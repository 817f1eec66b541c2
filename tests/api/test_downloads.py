"""`GET /downloads/{token}` streams a stored file to whoever holds a live token."""

from __future__ import annotations

import time

from tidings import files


def test_a_download_link_streams_the_file(api, tx, workspace, monkeypatch):
    monkeypatch.setattr(files, "PART_SIZE", 1000)
    content = b"".join(f"{n},person{n}@example.com\r\n".encode() for n in range(2000))
    file_id = tx(files.create, workspace.workspace_id, "export", "people 1.csv", "text/csv", 0)
    sink = files.FileSink(tx, file_id)
    sink.add(content)
    sink.close()
    token, _ = tx(files.create_link, workspace.workspace_id, file_id, int(time.time()))

    response = api.http.get(f"/downloads/{token}")  # no credentials: the token is enough
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "text/csv"
    assert response.headers["content-length"] == str(len(content))
    assert response.headers["content-disposition"] == 'attachment; filename="people_1.csv"'


def test_an_unknown_or_expired_link_is_a_404(api, tx, workspace):
    file_id = tx(files.create, workspace.workspace_id, "export", "a.csv", "text/csv", 0)
    files.FileSink(tx, file_id).close()
    token, _ = tx(files.create_link, workspace.workspace_id, file_id, int(time.time()) - 901)

    for path in (f"/downloads/{token}", "/downloads/not-a-token"):
        response = api.http.get(path)
        assert response.status_code == 404
        assert "expired" in response.json()["meta"]["error"]
