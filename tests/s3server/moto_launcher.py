"""Serves moto's S3 on 127.0.0.1, one request at a time: moto_launcher.py PORT [BUCKET...]

moto keeps its state in Python objects; served by many threads at once, its conditional writes
(If-None-Match, If-Match) are checked and applied in separate steps, so two racing writers can
both win. Behind one lock each request is atomic, as on a real S3, and conditional writes
really do stop lost updates. Creates the buckets, then prints "ready PORT".
"""

import sys
import threading
import urllib.request

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def one_at_a_time(environ, start_response):
    with lock:
        # Drain the body inside the lock: the response is computed lazily.
        return [b"".join(app(environ, start_response))]


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
server = make_server("127.0.0.1", port, one_at_a_time, threaded=True, request_handler=QuietHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
for bucket in sys.argv[2:]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/{bucket}", method="PUT")
    urllib.request.urlopen(request).read()
print(f"ready {server.server_port}", flush=True)
threading.Event().wait()
