def test_the_status_page_says_when_supervisord_is_not_running(client, app_config):
    response = client.get("/")
    assert response.status_code == 200
    assert b"supervisord is not reachable" in response.data
    assert str(app_config.supervisor_socket).encode() in response.data


def test_the_status_json_twin_has_the_same_content(client):
    body = client.get("/api/status").get_json()
    assert body["stack"]["reachable"] is False
    assert body["stack"]["programs"] == []
    assert "supervisord does not answer" in body["stack"]["error"]
