"""SIGTERM right after a client hung up mid-operation: the server finishes the operation (its
write and audit event) before it exits, although the HTTP workers stop at once."""

import socket
import time

from conftest import ADMIN_PASSWORD


def test_a_log_in_whose_client_hung_up_before_sigterm_is_audited(server, admin_token):
    before = server.request(
        "GET", "/api/v1/audit?event_type=auth_success", token=admin_token
    ).json
    body = f'{{"username": "admin", "password": "{ADMIN_PASSWORD}"}}'
    request = (
        "POST /auth/token HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    # The password check (argon2) takes a while: hang up during it, then stop the server.
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(request.encode())
        time.sleep(0.1)
    server.stop()
    log = server.read_log()
    assert "finishing the operations of clients that hung up" in log
    assert "abandoned" not in log

    server.start()
    token = server.token("admin", ADMIN_PASSWORD)
    after = server.request(
        "GET", "/api/v1/audit?event_type=auth_success", token=token
    ).json
    # The hung-up log-in and the one just made.
    assert len(after) == len(before) + 2, after
