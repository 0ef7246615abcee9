"""Tests that translations, icons, manifest.json and hacs.json agree with the code.

Home Assistant shows a raw key, or nothing, where a translation is missing; nothing
else fails. These tests read the integration's files and sources and name every
key that is missing, extra or inconsistent.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import version
import json
from pathlib import Path
import re
from typing import Any

from awesomeversion import AwesomeVersion
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import __version__ as installed_ha_version
from homeassistant.helpers.entity import EntityDescription
import pytest

from custom_components.sunvec.binary_sensor import BINARY_SENSORS
from custom_components.sunvec.const import DOMAIN
from custom_components.sunvec.errors import MEANINGS, OTHER, UNEXPECTED
from custom_components.sunvec.sensor import SENSORS

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / DOMAIN
TRANSLATIONS = INTEGRATION / "translations"
PHCC = "pytest-homeassistant-custom-component"

DESCRIPTIONS: dict[str, tuple[EntityDescription, ...]] = {
    "sensor": SENSORS,
    "binary_sensor": BINARY_SENSORS,
}

PLACEHOLDER = re.compile(r"\{(\w+)\}")
# How the config flow names its errors: {"base": "x"} or {CONF_TOKEN: "x"} returned
# by its validation, or errors["base"] = "x".
ERROR_DICT = re.compile(r"""\{\s*(?:"base"|CONF_\w+)\s*:\s*"(\w+)"\s*\}""")
ERROR_ASSIGNMENT = re.compile(r"""\berrors\[[^]]+\]\s*=\s*"(\w+)\"""")
ABORT_REASON = re.compile(r"""\breason\s*=\s*"(\w+)\"""")
STEP_ID = re.compile(r"""\bstep_id\s*=\s*"(\w+)\"""")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


EN = _load(TRANSLATIONS / "en.json")
# The translation keys of every client error (errors.py), raised or shown as
# ``translation_key=meaning.key``.
ERROR_KEYS = sorted(
    {meaning.key for _, meaning in MEANINGS} | {OTHER.key, UNEXPECTED.key}
)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Return every string of a translation tree by its dotted key."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{path}.")
        else:
            assert isinstance(value, str), f"{path} is {value!r}, not a string"
            flat[path] = value
    return flat


def translation_problems(
    reference: Mapping[str, Any], translation: Mapping[str, Any]
) -> list[str]:
    """Compare a translation with en.json: keys missing, extra, or other placeholders."""
    expected, actual = _flatten(reference), _flatten(translation)
    problems = [f"missing {key}" for key in sorted(expected.keys() - actual.keys())]
    problems += [f"extra {key}" for key in sorted(actual.keys() - expected.keys())]
    for key in sorted(expected.keys() & actual.keys()):
        wanted = set(PLACEHOLDER.findall(expected[key]))
        found = set(PLACEHOLDER.findall(actual[key]))
        if wanted != found:
            problems.append(
                f"{key} has placeholders {sorted(found)}, en.json {sorted(wanted)}"
            )
    return problems


def _calls(accepts: Callable[[ast.Call], bool]) -> Iterator[tuple[str, ast.Call]]:
    """Yield the calls in the integration's sources that ``accepts`` picks."""
    for path in sorted(INTEGRATION.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and accepts(node):
                yield f"{path.name}:{node.lineno}", node


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _with_translation_domain(call: ast.Call) -> bool:
    return _keyword(call, "translation_domain") is not None


def _creates_issue(call: ast.Call) -> bool:
    match call.func:
        case ast.Attribute(attr=name) | ast.Name(id=name):
            return name == "async_create_issue"
    return False


def translated_call_problems(
    calls: list[tuple[str, ast.Call]], section: str, texts: tuple[str, ...]
) -> list[str]:
    """Check each call's literal translation_key and placeholders against en.json.

    ``section`` is where the keys live in en.json (``exceptions``, ``issues``) and
    ``texts`` the strings of an entry whose placeholders the call must fill.
    """
    problems: list[str] = []
    for where, call in calls:
        key_node = _keyword(call, "translation_key")
        given_node = _keyword(call, "translation_placeholders")
        given = (
            {str(key.value) for key in given_node.keys if isinstance(key, ast.Constant)}
            if isinstance(given_node, ast.Dict)
            else set()
        )
        if isinstance(key_node, ast.Attribute) and key_node.attr == "key":
            # An error's meaning: one call raises every key of errors.py, each
            # using some of the placeholders given.
            for key in ERROR_KEYS:
                problems += _entry_problems(
                    where, section, key, texts, given, exact=False
                )
        elif keys := _literal_keys(key_node):
            for key in keys:
                problems += _entry_problems(
                    where, section, key, texts, given, exact=True
                )
        else:
            problems.append(f"{where}: translation_key is not a string literal")
    return problems


def _literal_keys(node: ast.expr | None) -> list[str]:
    """Return the keys of a string literal, or of ``"a" if x else "b"``; else []."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        branches = [_literal_keys(node.body), _literal_keys(node.orelse)]
        if all(branches):
            return [key for branch in branches for key in branch]
    return []


def _entry_problems(
    where: str,
    section: str,
    key: str,
    texts: tuple[str, ...],
    given: set[str],
    *,
    exact: bool,
) -> list[str]:
    entry = EN.get(section, {}).get(key, {})
    if missing := [text for text in texts if text not in entry]:
        return [f"{where}: no {section}.{key}.{missing[0]}"]
    wanted = {name for text in texts for name in PLACEHOLDER.findall(entry[text])}
    if wanted == given or (not exact and wanted <= given):
        return []
    problem = (
        f"{where}: {section}.{key} is given placeholders "
        f"{sorted(given)}, en.json uses {sorted(wanted)}"
    )
    return [problem]


# Every language has en.json's keys and placeholders, no more.


@pytest.mark.parametrize(
    "path", sorted(TRANSLATIONS.glob("*.json")), ids=lambda path: path.name
)
def test_translation_matches_english(path: Path) -> None:
    """Each translation has exactly en.json's keys, with the same placeholders."""
    problems = translation_problems(EN, _load(path))
    assert not problems, f"{path.name}: " + "; ".join(problems)


# Words that really are the same in a language ("Status" in German, "VPP"): the
# only values a translation may leave as en.json has them.
SAME_AS_ENGLISH = ROOT / "tests" / "fixtures" / "same_as_english"
LANGUAGES = {
    *("en", "de", "nl", "fr", "es", "it", "pl", "cs"),
    *("pt", "pt-BR", "da", "sv", "nb", "fi", "hu", "sk", "sl", "ro", "el", "uk"),
    *("zh-Hans", "ja"),
}


def left_in_english(
    reference: Mapping[str, Any], translation: Mapping[str, Any], allowed: set[str]
) -> tuple[list[str], list[str]]:
    """Return the values left as en.json has them, and allowed words not found so."""
    english, values = _flatten(reference), _flatten(translation)
    same = {value for key, value in values.items() if english.get(key) == value}
    return sorted(same - allowed), sorted(allowed - same)


def test_every_language_is_shipped() -> None:
    """The 22 languages of the README, each with a translation file."""
    shipped = {path.stem for path in TRANSLATIONS.glob("*.json")}
    assert sorted(LANGUAGES - shipped) == []


@pytest.mark.parametrize(
    "path",
    sorted(path for path in TRANSLATIONS.glob("*.json") if path.stem != "en"),
    ids=lambda path: path.name,
)
def test_no_value_is_left_in_english(path: Path) -> None:
    """A value identical to English is a word that is the same there, allow-listed."""
    allow_list = SAME_AS_ENGLISH / f"{path.stem}.json"
    allowed = (
        set(json.loads(allow_list.read_text(encoding="utf-8")))
        if (allow_list.exists())
        else set()
    )
    left, unused = left_in_english(EN, _load(path), allowed)
    assert not left, f"{path.name} leaves these as in English: {left}"
    assert not unused, f"{allow_list.name} allows words no longer used so: {unused}"


def test_left_in_english_is_named() -> None:
    reference = {"a": {"b": "Status", "c": "Power", "d": "PV"}}
    translation = {"a": {"b": "Status", "c": "Power", "d": "FV"}}
    assert left_in_english(reference, translation, {"Status", "PV"}) == (
        ["Power"],
        ["PV"],
    )


def test_translation_problems_are_named() -> None:
    """The comparison itself reports missing, extra and changed placeholders."""
    reference = {"a": {"b": "Hello {name}", "c": "C"}}
    translation = {"a": {"b": "Hallo {naam}", "d": "D"}}

    assert translation_problems(reference, translation) == [
        "missing a.c",
        "extra a.d",
        "a.b has placeholders ['naam'], en.json ['name']",
    ]


# Entity names and enum states.


@pytest.mark.parametrize("platform", DESCRIPTIONS)
def test_entity_translation_keys_have_names(platform: str) -> None:
    """Every translation_key of an entity description has a name in en.json."""
    names = EN["entity"].get(platform, {})
    missing = [
        description.translation_key
        for description in DESCRIPTIONS[platform]
        if description.translation_key is not None
        and "name" not in names.get(description.translation_key, {})
    ]
    assert not missing, f"no entity.{platform}.<key>.name in en.json for {missing}"


def test_enum_sensor_states_are_translated() -> None:
    """Every option of an enum sensor has a state translation."""
    missing: list[str] = []
    for description in SENSORS:
        if description.device_class is not SensorDeviceClass.ENUM:
            continue
        key = description.translation_key
        assert key is not None, f"enum sensor {description.key} has no translation_key"
        assert description.options, f"enum sensor {description.key} has no options"
        states = EN["entity"]["sensor"].get(key, {}).get("state", {})
        missing += [
            f"entity.sensor.{key}.state.{option}"
            for option in description.options
            if option not in states
        ]
    assert not missing, f"not in en.json: {missing}"


# Exceptions raised, and repair issues created, with a translation key.


def test_exception_translation_keys_exist() -> None:
    """Every translation_key given with translation_domain exists under exceptions."""
    calls = list(_calls(_with_translation_domain))
    assert calls, "no call with translation_domain= found; is the search broken?"
    problems = translated_call_problems(calls, "exceptions", ("message",))
    assert not problems, "; ".join(problems)


def test_issue_translation_keys_exist() -> None:
    """Every repair issue the integration creates has a title and description."""
    calls = list(_calls(_creates_issue))
    problems = translated_call_problems(calls, "issues", ("title", "description"))
    assert not problems, "; ".join(problems)


# The config flow's errors, abort reasons and steps.


def test_config_flow_strings_exist() -> None:
    """Every error, abort reason, step and menu option of the flow is in en.json."""
    source = (INTEGRATION / "config_flow.py").read_text(encoding="utf-8")
    config = EN["config"]

    errors = {*ERROR_DICT.findall(source), *ERROR_ASSIGNMENT.findall(source)}
    assert errors, "no config flow error found; is the search broken?"
    if "meaning.key" in source:
        errors |= set(ERROR_KEYS)
    reasons = set(ABORT_REASON.findall(source))
    # Aborts that Home Assistant's helpers raise with their default reason.
    if "_abort_if_unique_id_configured(" in source:
        reasons.add("already_configured")
    if re.search(r"_abort_if_unique_id_mismatch\(\s*\)", source):
        reasons.add("unique_id_mismatch")
    if "async_update_reload_and_abort(" in source:
        if "async_step_reauth(" in source:
            reasons.add("reauth_successful")
        if "async_step_reconfigure(" in source:
            reasons.add("reconfigure_successful")
    steps = set(STEP_ID.findall(source))
    menu_options = {
        (match.group(1), option)
        for match in re.finditer(
            r"""step_id="(\w+)",\s*menu_options=\[([^]]*)\]""", source
        )
        for option in re.findall(r'"(\w+)"', match.group(2))
    }

    missing = [f"config.error.{key}" for key in errors - config["error"].keys()]
    missing += [f"config.abort.{key}" for key in reasons - config["abort"].keys()]
    missing += [f"config.step.{key}" for key in steps - config["step"].keys()]
    missing += [
        f"config.step.{step}.menu_options.{option}"
        for step, option in menu_options
        if option not in config["step"].get(step, {}).get("menu_options", {})
    ]
    assert not missing, f"not in en.json: {sorted(missing)}"


# Icons.


def test_icons_belong_to_translated_entities() -> None:
    """Every entity and state in icons.json is an entity and state of en.json."""
    icons = _load(INTEGRATION / "icons.json")
    missing: list[str] = []
    for platform, entities in icons["entity"].items():
        for key, icon in entities.items():
            translated = EN["entity"].get(platform, {}).get(key)
            if translated is None:
                missing.append(f"entity.{platform}.{key}")
                continue
            # A binary sensor's states are on and off, translated by Home Assistant.
            states = (
                {"on", "off"}
                if platform == "binary_sensor"
                else translated.get("state", {}).keys()
            )
            missing += [
                f"entity.{platform}.{key}.state.{state}"
                for state in icon.get("state", {})
                if state not in states
            ]
    assert not missing, f"in icons.json but not in en.json: {missing}"


# manifest.json and hacs.json.


def test_manifest_keys_are_complete_and_in_hassfest_order() -> None:
    """manifest.json has the keys HACS and hassfest want, domain and name first."""
    manifest = _load(INTEGRATION / "manifest.json")
    keys = list(manifest)

    assert keys == [
        "domain",
        "name",
        "codeowners",
        "config_flow",
        "documentation",
        "integration_type",
        "iot_class",
        "issue_tracker",
        "requirements",
        "version",
    ]
    assert keys[2:] == sorted(keys[2:]), "hassfest sorts the keys after domain, name"
    assert manifest["domain"] == DOMAIN
    assert manifest["iot_class"] == "cloud_polling"
    assert manifest["requirements"] == []
    assert AwesomeVersion(manifest["version"]).valid


def test_hacs_minimum_home_assistant_is_the_tested_one() -> None:
    """hacs.json asks for the Home Assistant that the pinned test stack installs."""
    minimum = _load(ROOT / "hacs.json")["homeassistant"]
    pin = re.search(
        rf"^{PHCC}==(\S+)",
        (ROOT / "requirements_test.txt").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    assert pin is not None, f"requirements_test.txt does not pin {PHCC}"

    if version(PHCC) == pin.group(1):
        assert minimum == installed_ha_version
    else:  # the run against the newest Home Assistant, over the pins
        assert AwesomeVersion(minimum) <= AwesomeVersion(installed_ha_version)
