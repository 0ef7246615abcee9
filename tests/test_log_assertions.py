"""What the tests' traceback check counts, on every Home Assistant release."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from custom_components.sunvec.api import SunvecError, parse_reply

from .conftest import (
    HOME_ASSISTANT_CODE,
    INTEGRATION_CODE,
    INTEGRATION_LOGGER,
    assert_no_traceback_logged,
)


def _integration_error() -> BaseException:
    """Return an error raised in the integration's code (a malformed reply)."""
    try:
        parse_reply("not a reply")
    except SunvecError as err:
        return err
    raise AssertionError("parse_reply took a string")


def _other_error() -> BaseException:
    """Return an error raised outside the integration's code."""
    try:
        int("not a number")
    except ValueError as err:
        return err
    raise AssertionError("not raised")


def _log(
    caplog: pytest.LogCaptureFixture,
    logger: str,
    level: int,
    error: BaseException,
    *,
    pathname: Path,
) -> None:
    """Hand caplog a record as if the code in ``pathname`` had logged it."""
    record = logging.getLogger(logger).makeRecord(
        logger,
        level,
        str(pathname),
        1,
        "Something failed",
        (),
        (type(error), error, error.__traceback__),
    )
    caplog.handler.handle(record)


def test_a_traceback_the_integration_logs_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = _integration_error()
    _log(
        caplog,
        f"{INTEGRATION_LOGGER}.api",
        logging.DEBUG,
        error,
        pathname=INTEGRATION_CODE / "api.py",
    )
    with pytest.raises(AssertionError, match="Something failed"):
        assert_no_traceback_logged(caplog)


def test_an_error_that_escaped_the_integration_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant logs an exception our code let out: that counts."""
    error = _integration_error()
    _log(
        caplog,
        "homeassistant",
        logging.ERROR,
        error,
        pathname=HOME_ASSISTANT_CODE / "core.py",
    )
    with pytest.raises(AssertionError, match="Something failed"):
        assert_no_traceback_logged(caplog)


def test_home_assistants_own_debug_traceback_and_other_libraries_pass(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The coordinator's "Full error" detail (2026.10), and tracebacks not from us."""
    ours = _integration_error()
    _log(
        caplog,
        INTEGRATION_LOGGER,
        logging.DEBUG,
        ours,
        pathname=HOME_ASSISTANT_CODE / "helpers" / "update_coordinator.py",
    )
    _log(
        caplog,
        "homeassistant.config_entries",
        logging.DEBUG,
        ours,
        pathname=HOME_ASSISTANT_CODE / "config_entries.py",
    )
    theirs = _other_error()
    _log(caplog, "aiohttp.access", logging.ERROR, theirs, pathname=Path("web_log.py"))
    assert_no_traceback_logged(caplog)
