from customerio import CustomerIO


def test_python_track_client_identifies_over_tls(api, server, monkeypatch):
    # requests prefers REQUESTS_CA_BUNDLE from the environment over session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_path)
    creds = api.creds
    cio = CustomerIO(creds.site_id, creds.track_api_key, host=server.host, port=server.port)
    cio.identify("u 1/é", email="a@example.com", plan="pro")
    shown = api.attributes("u 1/é").json()["customer"]
    assert shown["attributes"]["plan"] == "pro"
    assert shown["identifiers"]["email"] == "a@example.com"
