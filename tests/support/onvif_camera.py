"""An emulated ONVIF camera for the gateway tests and benchmark: real SOAP 1.2 over HTTP on 127.0.0.1.

It answers what an ONVIF client sends (the one the gateway uses is onvif-zeep-async, zeep over the
official WSDLs) with the shapes of the ONVIF Core / Event Service specification:

- device service ``/onvif/device_service``: ``GetServices`` (the Device and Event service XAddrs),
  ``GetCapabilities``, ``GetSystemDateAndTime``;
- event service ``/onvif/event_service``: ``CreatePullPointSubscription`` → a ``SubscriptionReference``
  (``wsa:Address`` of ``/onvif/subscription/N``) with ``CurrentTime``/``TerminationTime``; the new
  subscription first gets ``PropertyOperation="Initialized"`` messages for every property's current
  state, as the spec asks;
- subscription ``/onvif/subscription/N``: ``PullMessages`` (long poll up to ``Timeout``, at most
  ``MessageLimit``), ``Renew``, ``Unsubscribe``, ``SetSynchronizationPoint``; an expired or unknown
  subscription answers a SOAP fault (``wsrf-rw:ResourceUnknownFault``), so a client that forgets to renew
  finds out.

Every request must carry a WS-Security ``UsernameToken`` with a correct ``PasswordDigest``
(Base64(SHA-1(nonce + created + password))); otherwise HTTP 400 with an ``ter:NotAuthorized`` fault.
Messages are ``wsnt:NotificationMessage`` with ``wsnt:Topic`` (``tns1:…``, ConcreteSet dialect) and a
``tt:Message`` of ``Source``/``Data`` ``SimpleItem``s. Synthetic: no real camera is behind it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "tns1": "http://www.onvif.org/ver10/topics",
    "ter": "http://www.onvif.org/ver10/error",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "wsrf-rw": "http://docs.oasis-open.org/wsrf/rw-2",
}
_XMLNS = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
ACTION = {
    "CreatePullPointSubscription": "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionResponse",
    "PullMessages": "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesResponse",
    "Renew": "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewResponse",
    "Unsubscribe": "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeResponse",
    "SetSynchronizationPoint": "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/SetSynchronizationPointResponse",
}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_duration(text: str) -> float:
    """Return the seconds of an xs:duration like ``PT60S`` (days, hours, minutes, seconds)."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


def onvif_message(
    topic: str, source: dict[str, str], data: dict[str, str], *, at: float | None = None,
    operation: str | None = "Changed",
) -> str:  # fmt: skip
    """Return one ``wsnt:NotificationMessage`` as a camera sends it in a ``PullMessagesResponse``."""
    op = f" PropertyOperation={quoteattr(operation)}" if operation else ""
    src = "".join(f"<tt:SimpleItem Name={quoteattr(k)} Value={quoteattr(v)}/>" for k, v in source.items())
    dat = "".join(f"<tt:SimpleItem Name={quoteattr(k)} Value={quoteattr(v)}/>" for k, v in data.items())
    return (
        "<wsnt:NotificationMessage>"
        f'<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">{escape(topic)}'
        "</wsnt:Topic><wsnt:Message>"
        f"<tt:Message UtcTime={quoteattr(_iso(at or time.time()))}{op}>"
        f"<tt:Source>{src}</tt:Source><tt:Data>{dat}</tt:Data></tt:Message>"
        "</wsnt:Message></wsnt:NotificationMessage>"
    )


class _SoapHandler(BaseHTTPRequestHandler):
    """POST only: the body is one SOAP envelope, the answer one envelope (200 or a 400 fault)."""

    protocol_version = "HTTP/1.1"
    server: _SoapServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, out = self.server.camera.dispatch(self.path, body)
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class _SoapServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, camera: OnvifCamera) -> None:
        self.camera = camera
        super().__init__(("127.0.0.1", 0), _SoapHandler)


@dataclass
class _Subscription:
    sid: int
    terminates: float
    queue: list[str] = field(default_factory=list)
    pulls: int = 0
    renews: int = 0


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: Element, name: str) -> Element | None:
    return next((c for c in el.iter() if _local(c.tag) == name), None)


class OnvifCamera:
    """An ONVIF device with an event service on a free loopback port (thread-served, real HTTP)."""

    def __init__(self, username: str = "admin", password: str = "s3cret") -> None:
        self.username = username
        self.password = password
        self.subs: dict[int, _Subscription] = {}
        self.created = 0
        self.renewed = 0
        self.unsubscribed = 0
        self.refused_auth = 0
        # (topic, source) → (source items, data items) of each property's current state
        self.properties: dict[tuple[str, str], tuple[str, dict[str, str], dict[str, str]]] = {}
        self.raw_next: list[bytes] = []  # bodies answered verbatim to the next PullMessages (bad input)
        self._cv = threading.Condition()
        self._next = 1
        self._stop = False
        self.server = _SoapServer(self)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, name="onvif-camera", daemon=True).start()

    def __enter__(self) -> OnvifCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The device's base URL (the device service is at ``/onvif/device_service``)."""
        return f"http://127.0.0.1:{self.port}"

    # -- what a test does ---------------------------------------------------------------------
    def emit(self, topic: str, source: dict[str, str], data: dict[str, str], *, at: float | None = None,
             prop: bool = True) -> None:  # fmt: skip
        """Raise one event on every live subscription (`prop`: a property, remembered for new ones)."""
        with self._cv:
            if prop:
                self.properties[(topic, repr(sorted(source.items())))] = (topic, dict(source), dict(data))
            msg = onvif_message(topic, source, data, at=at, operation="Changed" if prop else None)
            for s in self.subs.values():
                s.queue.append(msg)
            self._cv.notify_all()

    def wait(self, pred: Any, timeout: float = 30) -> bool:
        """Wait until `pred(self)` holds."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while not pred(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.2))
        return True

    def drained(self) -> bool:
        """Whether every live subscription has pulled all its messages."""
        with self._cv:
            return all(not s.queue for s in self.subs.values())

    def expire_all(self, *, stop: bool = False) -> None:
        """Drop every subscription (a camera reboot: clients must subscribe again); `stop`: stop serving."""
        with self._cv:
            self.subs.clear()
            self._stop = self._stop or stop
            self._cv.notify_all()
        if stop:
            self.server.shutdown()
            self.server.server_close()

    def close(self) -> None:
        """Stop serving."""
        self.expire_all(stop=True)

    # -- SOAP ---------------------------------------------------------------------------------
    def _envelope(self, body: str, action: str | None = None) -> bytes:
        head = f"<env:Header><wsa:Action>{action}</wsa:Action></env:Header>" if action else "<env:Header/>"
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {_XMLNS}>{head}'
                f"<env:Body>{body}</env:Body></env:Envelope>").encode()  # fmt: skip

    def _fault(self, code: str, sub: str, reason: str) -> bytes:
        return self._envelope(
            f"<env:Fault><env:Code><env:Value>{code}</env:Value><env:Subcode><env:Value>{sub}</env:Value>"
            f'</env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">{escape(reason)}</env:Text>'
            "</env:Reason></env:Fault>",
            "http://www.w3.org/2005/08/addressing/soap/fault",
        )

    def _authorised(self, root: Element) -> bool:
        tok = _child(root, "UsernameToken")
        if tok is None:
            return False
        user, pw, nonce, created = (_child(tok, n) for n in ("Username", "Password", "Nonce", "Created"))
        if user is None or pw is None or nonce is None or created is None or user.text != self.username:
            return False
        raw = base64.b64decode(nonce.text or "") + (created.text or "").encode() + self.password.encode()
        digest = base64.b64encode(hashlib.sha1(raw).digest()).decode()
        return digest == (pw.text or "")

    def dispatch(self, path: str, raw: bytes) -> tuple[int, bytes]:
        try:
            root = SafeET.fromstring(raw, forbid_dtd=True)
        except (SafeET.ParseError, ValueError):  # defusedxml's refusals are ValueErrors
            return 400, self._fault("env:Sender", "ter:WellFormed", "request is not well-formed XML")
        body = _child(root, "Body")
        op_el = next(iter(body), None) if body is not None else None
        if op_el is None:
            return 400, self._fault("env:Sender", "ter:WellFormed", "empty Body")
        op = _local(op_el.tag)
        if op != "GetSystemDateAndTime" and not self._authorised(root):
            with self._cv:
                self.refused_auth += 1
            return 400, self._fault("env:Sender", "ter:NotAuthorized", "Sender not Authorized")
        if path == "/onvif/device_service":
            return self._device(op)
        if path == "/onvif/event_service" and op == "CreatePullPointSubscription":
            return self._create(op_el)
        m = re.fullmatch(r"/onvif/subscription/(\d+)", path)
        if m:
            return self._subscription(int(m.group(1)), op, op_el)
        return 400, self._fault("env:Sender", "ter:ActionNotSupported", f"{op} at {path}")

    def _device(self, op: str) -> tuple[int, bytes]:
        now = datetime.now(UTC)
        if op == "GetSystemDateAndTime":
            return 200, self._envelope(
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP"
                "</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime><tt:Time>"
                f"<tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute><tt:Second>{now.second}"
                f"</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}"
                f"</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date></tt:UTCDateTime>"
                "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
            )
        services = [
            ("http://www.onvif.org/ver10/device/wsdl", "/onvif/device_service"),
            ("http://www.onvif.org/ver10/events/wsdl", "/onvif/event_service"),
        ]
        if op == "GetServices":
            items = "".join(
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{self.url}{p}</tds:XAddr>"
                "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
                for ns, p in services
            )
            return 200, self._envelope(f"<tds:GetServicesResponse>{items}</tds:GetServicesResponse>")
        if op == "GetCapabilities":
            return 200, self._envelope(
                "<tds:GetCapabilitiesResponse><tds:Capabilities>"
                f"<tt:Events><tt:XAddr>{self.url}/onvif/event_service</tt:XAddr>"
                "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
                "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
                "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
                "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
                "</tds:Capabilities></tds:GetCapabilitiesResponse>"
            )
        return 400, self._fault("env:Receiver", "ter:ActionNotSupported", op)

    def _termination(self, el: Element, name: str, default: float) -> float:
        t = _child(el, name)
        if t is None or not (t.text or "").strip():
            return time.time() + default
        text = t.text.strip() if t.text else ""
        if text.startswith("P"):
            return time.time() + parse_duration(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    def _create(self, el: Element) -> tuple[int, bytes]:
        with self._cv:
            sid = self._next
            self._next += 1
            sub = _Subscription(sid, self._termination(el, "InitialTerminationTime", 60))
            sub.queue = [
                onvif_message(topic, src, data, operation="Initialized")
                for topic, src, data in self.properties.values()
            ]
            self.subs[sid] = sub
            self.created += 1
            self._cv.notify_all()
        now = time.time()
        return 200, self._envelope(
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{self.url}/onvif/subscription/{sid}</wsa:Address></tev:SubscriptionReference>"
            f"<wsnt:CurrentTime>{_iso(now)}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{_iso(sub.terminates)}</wsnt:TerminationTime>"
            "</tev:CreatePullPointSubscriptionResponse>",
            ACTION["CreatePullPointSubscription"],
        )

    def _live(self, sid: int) -> _Subscription | None:
        sub = self.subs.get(sid)
        if sub is not None and sub.terminates < time.time():
            del self.subs[sid]
            return None
        return sub

    def _subscription(self, sid: int, op: str, el: Element) -> tuple[int, bytes]:
        with self._cv:
            sub = self._live(sid)
        if sub is None:
            return 400, self._fault("env:Receiver", "wsrf-rw:ResourceUnknownFault",
                                    f"subscription {sid} does not exist or has expired")  # fmt: skip
        if op == "PullMessages":
            return self._pull(sub, el)
        now = time.time()
        if op == "Renew":
            with self._cv:
                sub.terminates = self._termination(el, "TerminationTime", 60)
                sub.renews += 1
                self.renewed += 1
                self._cv.notify_all()
            return 200, self._envelope(
                f"<wsnt:RenewResponse><wsnt:TerminationTime>{_iso(sub.terminates)}</wsnt:TerminationTime>"
                f"<wsnt:CurrentTime>{_iso(now)}</wsnt:CurrentTime></wsnt:RenewResponse>",
                ACTION["Renew"],
            )
        if op == "Unsubscribe":
            with self._cv:
                self.subs.pop(sid, None)
                self.unsubscribed += 1
                self._cv.notify_all()
            return 200, self._envelope("<wsnt:UnsubscribeResponse/>", ACTION["Unsubscribe"])
        if op == "SetSynchronizationPoint":
            return 200, self._envelope("<tev:SetSynchronizationPointResponse/>",
                                       ACTION["SetSynchronizationPoint"])  # fmt: skip
        return 400, self._fault("env:Sender", "ter:ActionNotSupported", op)

    def _pull(self, sub: _Subscription, el: Element) -> tuple[int, bytes]:
        t = _child(el, "Timeout")
        wait = min(60.0, parse_duration(t.text or "PT1S")) if t is not None else 1.0
        lim = _child(el, "MessageLimit")
        limit = max(1, int(lim.text or 1)) if lim is not None else 100
        deadline = time.monotonic() + wait
        with self._cv:
            while not sub.queue and not self.raw_next and not self._stop and sub.sid in self.subs:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(min(left, 0.5))
            if self.raw_next:
                return 200, self.raw_next.pop(0)
            msgs, sub.queue = sub.queue[:limit], sub.queue[limit:]
            sub.pulls += 1
            self._cv.notify_all()
        now = time.time()
        return 200, self._envelope(
            f"<tev:PullMessagesResponse><tev:CurrentTime>{_iso(now)}</tev:CurrentTime>"
            f"<tev:TerminationTime>{_iso(sub.terminates)}</tev:TerminationTime>{''.join(msgs)}"
            "</tev:PullMessagesResponse>",
            ACTION["PullMessages"],
        )

    def pull_response(self, inner: str) -> bytes:
        """Return a PullMessagesResponse envelope around raw `inner` XML (for bad-input tests)."""
        return self._envelope(
            f"<tev:PullMessagesResponse><tev:CurrentTime>{_iso(time.time())}</tev:CurrentTime>"
            f"<tev:TerminationTime>{_iso(time.time() + 60)}</tev:TerminationTime>{inner}"
            "</tev:PullMessagesResponse>",
            ACTION["PullMessages"],
        )
