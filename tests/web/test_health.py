def test_healthz_reports_version_uptime_and_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    assert body["database"] == "ok"
    assert body["schema_version"] >= 1
    assert body["version"]
    assert body["uptime_seconds"] >= 0


def test_healthz_is_503_when_the_database_is_unusable(client, app, app_config):
    app.extensions["appliance"].db.close()
    app_config.database_path.unlink()
    app_config.database_path.mkdir()  # a directory where the database was: cannot be opened
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ok"] is False
    assert body["database"].startswith("error")
