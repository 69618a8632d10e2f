# SPDX-License-Identifier: MIT
"""sponge_worker — write a sponged stage worker in Python as one batch callback.

The same contract as the C library libsponge_worker (pipelines/worker/worker.h), standard
library only. The wire format is described in pipelines/worker/README.md:

    frame = u32 length (type byte + body), u8 type, body        (little-endian)
    BATCH 1 (agent→worker)  u64 batch_id, u32 n, n × {u64 request_id, u32 len, bytes}
    RESULT 2 (worker→agent) u64 batch_id, u32 n, n × {u64 request_id, u8 status, u32 len, bytes}
    READY 3, SET_THREADS 4, SHUTDOWN 5, ERROR 6

Use:
    import sponge_worker                    # first: it bounds torch's/OpenMP's thread pools
    import torch
    def process(items):                     # list of bytes → one result per item
        return [b"out" if ok(x) else sponge_worker.InvalidInput("not an image") for x in items]
    sys.exit(sponge_worker.serve(process, name="mine", init=load_model))

A result is bytes (the item's output), an ItemError (status 1: the agent answers 502) or an
InvalidInput (status 2: the agent answers 400). Any other exception object in the list counts
as an ItemError with its text. If process() raises, every item of the batch fails with the
exception's text and the worker keeps serving. `init` runs before READY (the loading time),
`fini` after SHUTDOWN. `set_threads(n)` is called with SPONGE_THREADS before READY and on every
SET_THREADS frame; the default calls torch.set_num_threads(n) when torch is loaded.

serve() returns the process exit status: 0 after SHUTDOWN or when the agent closed the
connection at a frame boundary, 1 after a protocol error (an ERROR frame is sent, best effort,
and one line goes to stderr).
"""
import errno
import os
import socket
import struct
import sys
import time

__all__ = ["serve", "ItemError", "InvalidInput", "ProtocolError", "threads"]

PROTOCOL_VERSION = 1
MAX_FRAME_DEFAULT = 16 * 1024 * 1024
MIN_MAX_FRAME = 4096
ERROR_MSG_MAX = 1024
PARTIAL_FRAME_TIMEOUT_S = 10.0

BATCH, RESULT, READY, SET_THREADS, SHUTDOWN, ERROR = 1, 2, 3, 4, 5, 6
STATUS_OK, STATUS_ERROR, STATUS_INVALID = 0, 1, 2
_TYPE_NAMES = {BATCH: "BATCH", RESULT: "RESULT", READY: "READY", SET_THREADS: "SET_THREADS",
               SHUTDOWN: "SHUTDOWN", ERROR: "ERROR"}


class ItemError(Exception):
    """One item failed (status 1): the agent answers that request 502 with the message."""

    status = STATUS_ERROR


class InvalidInput(ItemError):
    """One item's input is malformed (status 2): the agent answers that request 400."""

    status = STATUS_INVALID


class ProtocolError(Exception):
    """The peer broke the protocol (or the connection): an ERROR frame is sent, then close."""


def _env_threads():
    try:
        n = int(os.environ.get("SPONGE_THREADS", "1"))
    except ValueError:
        return 1
    return max(1, min(n, 256))


# Thread pools follow the quota from the first moment: OpenMP/MKL/OpenBLAS read these when torch
# (or numpy) is imported, so this module is imported before them. Values the operator set win.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, str(_env_threads()))

_threads = _env_threads()
_interop_set = False


def threads():
    """The thread count the agent last asked for (SET_THREADS, or SPONGE_THREADS at start)."""
    return _threads


def default_set_threads(n):
    """torch.set_num_threads(n) when torch is loaded (its intra-op pool follows the quota);
    torch's inter-op pool is kept at one thread so it never adds threads beyond n."""
    global _interop_set
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if not _interop_set:
        # Only once, before any inter-op work: a second call aborts the process (torch 1.13
        # throws a C++ error that is not turned into a Python exception).
        _interop_set = True
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    torch.set_num_threads(n)


def _max_frame():
    v = os.environ.get("SPONGE_MAX_FRAME")
    if v is None:
        return MAX_FRAME_DEFAULT
    try:
        n = int(v)
    except ValueError:
        raise ValueError(f"SPONGE_MAX_FRAME={v!r} is not a number") from None
    return max(n, MIN_MAX_FRAME)


def _connect():
    fd = os.environ.get("SPONGE_SOCKET_FD")
    if fd is not None:
        try:
            n = int(fd)
        except ValueError:
            raise ValueError(f"SPONGE_SOCKET_FD={fd!r} is not a file descriptor") from None
        if n < 0:
            raise ValueError(f"SPONGE_SOCKET_FD={fd!r} is not a file descriptor")
        s = socket.socket(fileno=n)
        os.set_inheritable(s.fileno(), False)
        return s
    path = os.environ.get("SPONGE_SOCKET")
    if not path:
        raise ValueError("neither SPONGE_SOCKET_FD nor SPONGE_SOCKET is set (started by sponged?)")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def _frame(ftype, body=b""):
    return struct.pack("<IB", 1 + len(body), ftype) + body


def _string(text):
    b = text.encode("utf-8", "replace")
    return struct.pack("<I", len(b)) + b


def _error_frame(msg):
    b = msg.encode("utf-8", "replace")[:ERROR_MSG_MAX].decode("utf-8", "ignore")
    return _frame(ERROR, _string(b))


class _Conn:
    """Blocking framed reads with the partial-frame deadline, and whole-frame writes."""

    def __init__(self, sock, max_frame):
        self.sock = sock
        self.max_frame = max_frame
        self.buf = bytearray()

    def _fill(self, want, began):
        while len(self.buf) < want:
            if began:
                left = PARTIAL_FRAME_TIMEOUT_S - (time.monotonic() - began)
                if left <= 0:
                    raise ProtocolError("frame not completed within 10 s")
                self.sock.settimeout(left)
            else:
                self.sock.settimeout(None)
            try:
                chunk = self.sock.recv(max(65536, want - len(self.buf)))
            except socket.timeout:
                raise ProtocolError("frame not completed within 10 s") from None
            if not chunk:
                if self.buf:
                    raise ProtocolError("connection closed in the middle of a frame")
                return False
            if not began:
                began = time.monotonic()
            self.buf += chunk
        return True

    def read(self):
        """Returns (type, body bytes), or None at EOF on a frame boundary."""
        began = time.monotonic() if self.buf else None
        if not self._fill(4, began):
            return None
        began = began or time.monotonic()
        (length,) = struct.unpack_from("<I", self.buf)
        if length == 0:
            raise ProtocolError("zero frame length")
        if 4 + length > self.max_frame:
            raise ProtocolError(f"frame of {4 + length} bytes exceeds the limit {self.max_frame}")
        self._fill(4 + length, began)
        ftype, body = self.buf[4], bytes(self.buf[5:4 + length])
        del self.buf[:4 + length]
        return ftype, body

    def write(self, data):
        self.sock.settimeout(None)
        self.sock.sendall(data)


def _parse_batch(body):
    """BATCH body → (batch_id, [(request_id, bytes)]); ProtocolError unless exactly right."""
    if len(body) < 12:
        raise ProtocolError("BATCH body shorter than its header")
    batch_id, n = struct.unpack_from("<QI", body)
    if n > (len(body) - 12) // 12:
        raise ProtocolError(f"BATCH announces {n} items, more than its body can hold")
    items, off = [], 12
    for _ in range(n):
        if off + 12 > len(body):
            raise ProtocolError("BATCH item record truncated")
        rid, ln = struct.unpack_from("<QI", body, off)
        off += 12
        if ln > len(body) - off:
            raise ProtocolError("BATCH item bytes truncated")
        items.append((rid, body[off:off + ln]))
        off += ln
    if off != len(body):
        raise ProtocolError("trailing bytes after the BATCH items")
    return batch_id, items


def _message(exc):
    text = str(exc) or type(exc).__name__
    return text.encode("utf-8", "replace")[:ERROR_MSG_MAX]


def _encode_result(batch_id, items, results, max_frame):
    parts = [struct.pack("<QI", batch_id, len(items))]
    for (rid, _), res in zip(items, results):
        if isinstance(res, (bytes, bytearray, memoryview)):
            status, data = STATUS_OK, bytes(res)
        elif isinstance(res, BaseException):
            status = getattr(res, "status", STATUS_ERROR)
            data = _message(res)
        else:
            status, data = STATUS_ERROR, f"output is {type(res).__name__}, not bytes".encode()
        parts.append(struct.pack("<QBI", rid, status, len(data)))
        parts.append(data)
    frame = _frame(RESULT, b"".join(parts))
    if len(frame) > max_frame:
        msg = b"output too large for the frame limit"
        frame = _frame(RESULT, struct.pack("<QI", batch_id, len(items)) + b"".join(
            struct.pack("<QBI", rid, STATUS_ERROR, len(msg)) + msg for rid, _ in items))
    return frame


def _run_batch(process, items):
    inputs = [data for _, data in items]
    try:
        results = list(process(inputs))
    except Exception as e:  # noqa: BLE001 — one batch's failure fails its items, not the worker
        return [ItemError(f"worker failed: {_message(e).decode('utf-8', 'replace')}")] * len(items)
    if len(results) != len(items):
        return [ItemError(f"worker returned {len(results)} results for {len(items)} items")] * \
            len(items)
    return results


def _loop(conn, process, set_threads):
    global _threads
    while True:
        frame = conn.read()
        if frame is None:
            return 0  # the agent closed at a frame boundary
        ftype, body = frame
        if ftype == BATCH:
            batch_id, items = _parse_batch(body)
            results = _run_batch(process, items)
            conn.write(_encode_result(batch_id, items, results, conn.max_frame))
        elif ftype == SET_THREADS:
            if len(body) != 4:
                raise ProtocolError("SET_THREADS body is not 4 bytes")
            (n,) = struct.unpack("<I", body)
            if n < 1:
                raise ProtocolError("SET_THREADS of 0 threads")
            _threads = min(n, 256)
            set_threads(_threads)
        elif ftype == SHUTDOWN:
            if body:
                raise ProtocolError("SHUTDOWN with a body")
            return 0
        elif ftype == ERROR:
            raise ConnectionAbortedError("the agent sent ERROR: " +
                                         body[4:].decode("utf-8", "replace"))
        elif ftype in _TYPE_NAMES:
            raise ProtocolError(f"unexpected {_TYPE_NAMES[ftype]} frame at a worker")
        else:
            raise ProtocolError(f"unknown frame type {ftype}")


def serve(process, name, init=None, fini=None, set_threads=default_set_threads):
    """Runs the worker: connect, init(), READY, serve batches until SHUTDOWN, fini().
    Returns the exit status for sys.exit()."""
    if not name or not isinstance(name, str):
        raise ValueError("serve() needs the worker's name")
    conn = None
    try:
        max_frame = _max_frame()
        conn = _Conn(_connect(), max_frame)
        try:
            if init is not None:
                init()
            set_threads(_threads)
        except Exception as e:  # noqa: BLE001 — reported to the agent, then exit 1
            msg = f"initialisation failed: {_message(e).decode('utf-8', 'replace')}"
            try:
                conn.write(_error_frame(msg))
            except OSError:
                pass
            print(f"{name}: {msg}", file=sys.stderr, flush=True)
            return 1
        conn.write(_frame(READY, struct.pack("<III", PROTOCOL_VERSION, os.getpid(), _threads) +
                          _string(name)))
        status = _loop(conn, process, set_threads)
        if fini is not None:
            fini()
        return status
    except ProtocolError as e:
        try:
            conn.write(_error_frame(str(e)))
        except OSError:
            pass
        print(f"{name}: {e}", file=sys.stderr, flush=True)
        return 1
    except (OSError, ValueError) as e:
        if isinstance(e, OSError) and e.errno == errno.EPIPE:
            e = "the agent closed the connection"
        print(f"{name}: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        if conn is not None:
            conn.sock.close()
