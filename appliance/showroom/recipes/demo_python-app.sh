#!/bin/sh
# A small Python web application (the standard library's http.server), run by the showroom's
# supervisord and listening on the demo's port itself: no Apache.
# PARAMS: greeting
set -eu
cat > app.py <<'EOF'
"""A showroom demo: every GET gets a greeting."""

import html
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = os.environ["name"]
GREETING = os.environ.get("greeting") or "Hello"


class Greeter(BaseHTTPRequestHandler):
    def do_GET(self):
        text = f"{html.escape(GREETING)} from {html.escape(NAME)}"
        body = f"<!doctype html>\n<title>{text}</title>\n<h1>{text}</h1>\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Greeter).serve_forever()
EOF
cat > start.sh <<'EOF'
#!/bin/sh
exec python3 -u app.py
EOF
echo "python app $name: app.py and start.sh written"
