"""errors.py - ctrace.Error, the exception every failure raises."""

# enum ct_status (include/ctrace.h)
OK, ERR_INPUT, ERR_NOMEM, ERR_IO, ERR_UNSUPPORTED, ERR_DEVICE = range(6)
_NAMES = {0: "ok", 1: "bad input", 2: "out of memory", 3: "I/O error", 4: "unsupported", 5: "device error"}


class Error(Exception):
    """A ctrace failure.

    message  the library's one-line message (ct_err.msg), e.g.
             "/x/config.json: cannot open: No such file or directory"
    code     its enum ct_status value: 1 ERR_INPUT, 2 ERR_NOMEM, 3 ERR_IO,
             4 ERR_UNSUPPORTED, 5 ERR_DEVICE; 0 for errors found by the
             binding itself before calling the library (bad Python arguments
             raise Error with code ERR_INPUT)
    status   the code's name ("bad input", ...)
    """

    def __init__(self, message, code=ERR_INPUT, status=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status if status is not None else _NAMES.get(code, "error")

    @classmethod
    def from_c(cls, lib, err):
        code = int(err.code)
        return cls(err.msg.decode("utf-8", "replace"), code, lib.ct_status_name(code).decode())

    def __repr__(self):
        return f"ctrace.Error({self.message!r}, code={self.code})"
