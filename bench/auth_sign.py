"""OAuth 1.0a request signing, squall.auth beside Tornado's tornado.auth, in-process.

    python bench/auth_sign.py [N] [--tornado-python PATH]

Signs the request ``twitter_request`` makes for a home-timeline call with two query arguments
(``OAuthMixin._oauth_request_parameters``: protocol parameters, nonce, base string, HMAC-SHA1)
N times in each framework, each in its own interpreter (this one for squall; PATH, default
Tornado's suite venv ``/tmp/tornado-suite-venv/bin/python``, for Tornado), interleaved over 3
rounds, and prints the best time per request and the ratio. Best, not median: on a shared
machine other work only ever adds time to a CPU-bound loop. Not part of CI: speed is proven
here, not in tests. Signing is the only CPU work the mixins do per API call; the rest is the
HTTP client.
"""

from __future__ import annotations

import subprocess
import sys

ROOT = __file__.rsplit("/", 2)[0]
WORKER = """
import sys, time
sys.path.insert(0, {root!r})
from {package}.auth import OAuthMixin

class Client(OAuthMixin):
    _OAUTH_VERSION = "1.0a"
    def _oauth_consumer_token(self):
        return {{"key": "xvz1evFS4wEEPTGEFPHBog",
                 "secret": "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"}}

client, n = Client(), {n}
token = {{"key": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
          "secret": "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"}}
url = "https://api.twitter.com/1.1/statuses/home_timeline.json"
args = {{"count": "50", "include_entities": "true"}}
best = float("inf")
for _ in range(5):
    start = time.perf_counter()
    for _ in range(n // 5):
        client._oauth_request_parameters(url, token, args)
    best = min(best, (time.perf_counter() - start) / (n // 5) * 1e6)
print(best)
"""


def measure(python: str, package: str, n: int) -> float:
    code = WORKER.format(root=ROOT, package=package, n=n)
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def main() -> None:
    argv = sys.argv[1:]
    tornado_python = "/tmp/tornado-suite-venv/bin/python"
    if "--tornado-python" in argv:
        at = argv.index("--tornado-python")
        tornado_python = argv[at + 1]
        del argv[at : at + 2]
    n = int(argv[0]) if argv else 20000
    squall_us: list[float] = []
    tornado_us: list[float] = []
    for _ in range(3):
        squall_us.append(measure(sys.executable, "squall", n))
        tornado_us.append(measure(tornado_python, "tornado", n))
    s, t = min(squall_us), min(tornado_us)
    print(f"OAuth 1.0a signing, {n} requests x 3 rounds (5 batches each), best:")
    print(f"  squall  {s:7.2f} us/request   rounds {', '.join(f'{x:.2f}' for x in squall_us)}")
    print(f"  Tornado {t:7.2f} us/request   rounds {', '.join(f'{x:.2f}' for x in tornado_us)}")
    print(f"  squall is {t / s:.2f}x Tornado")


if __name__ == "__main__":
    main()
