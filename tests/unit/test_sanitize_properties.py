"""Properties of the scrubber over generated JSON: no mutation, idempotence, no secret left."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supabase_jobs._errors import PayloadValidationError
from supabase_jobs._payload import prepare_payload
from supabase_jobs._sanitize import (
    REDACTED,
    looks_like_secret,
    scrub,
    scrub_text,
    text_may_contain_secret,
)
from supabase_jobs._secret_keys import is_secret_key

from .test_sanitize import PLAIN_KEYS_CORPUS, PLAIN_VALUES, SECRET_KEYS, SECRET_VALUES


def json_strategy(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """JSON-like values whose keys and strings mix the corpus with generated ``text``."""
    keys = st.one_of(st.sampled_from(SECRET_KEYS + PLAIN_KEYS_CORPUS), text)
    strings = st.one_of(st.sampled_from(SECRET_VALUES + PLAIN_VALUES), text)
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        strings,
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(keys, children, max_size=4),
            st.lists(st.tuples(keys, children).map(list), max_size=3),  # header-style pairs
        ),
        max_leaves=24,
    )


json_values = json_strategy(st.text(max_size=16))
# prepare_payload refuses NULs and lone surrogates (tested elsewhere); keep them out here.
wire_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=16
)
payloads = st.dictionaries(
    st.one_of(st.sampled_from(SECRET_KEYS + PLAIN_KEYS_CORPUS), wire_text),
    json_strategy(wire_text),
    max_size=5,
)
modes = st.sampled_from(["remove", "redact"])
fast = settings(deadline=None, max_examples=150)


def strings_in(value: Any) -> list[str]:
    """Every key and string value in ``value``."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def assert_clean(value: Any, mode: str) -> None:
    """No secret key (or only redacted ones) and no secret-looking string remain."""
    stack = [(value, False)]
    while stack:
        item, in_list = stack.pop()
        if isinstance(item, str):
            assert item == REDACTED or not looks_like_secret(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                assert not looks_like_secret(key)
                if is_secret_key(key):
                    assert mode == "redact"
                    assert child == REDACTED
                stack.append((child, False))
        elif isinstance(item, list):
            if in_list and len(item) == 2 and isinstance(item[0], str) and " " not in item[0]:
                assert not is_secret_key(item[0]) or len(item[0]) > 64 or item[1] == REDACTED
            stack.extend((child, True) for child in item)


@fast
@given(json_values, modes)
def test_scrub_never_mutates_its_input(value: Any, mode: str) -> None:
    before = copy.deepcopy(value)
    scrub(value, mode=mode)  # type: ignore[arg-type]
    assert value == before


@fast
@given(json_values, modes)
def test_scrub_is_idempotent(value: Any, mode: str) -> None:
    once = scrub(value, mode=mode)  # type: ignore[arg-type]
    assert scrub(once.value, mode=mode) == (once.value, ())  # type: ignore[arg-type]


@fast
@given(json_values, modes)
def test_output_has_no_secret_key_or_value(value: Any, mode: str) -> None:
    assert_clean(scrub(value, mode=mode).value, mode)  # type: ignore[arg-type]


@fast
@given(payloads, modes)
def test_prepare_payload_matches_scrub(payload: dict[str, Any], mode: str) -> None:
    before = copy.deepcopy(payload)
    prepared = prepare_payload(payload, mode=mode, max_bytes=1 << 20)  # type: ignore[arg-type]
    expected = scrub(payload, mode=mode)  # type: ignore[arg-type]
    assert payload == before
    assert prepared.value == expected.value
    assert sorted(prepared.scrubbed_paths) == sorted(expected.paths)
    assert json.loads(prepared.json) == prepared.value
    assert_clean(prepared.value, mode)


@fast
@given(json_values)
def test_json_hint_never_misses_a_secret(value: Any) -> None:
    if any(looks_like_secret(text) for text in strings_in(value)):
        assert text_may_contain_secret(json.dumps(value, ensure_ascii=False))
        assert text_may_contain_secret(json.dumps(value))
        compact = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        assert text_may_contain_secret(compact, json_text=True)


def test_strategies_generate_the_interesting_cases_often() -> None:
    """Guard the properties above: their inputs must often hold secret keys and values.

    A strategy that stopped drawing from the corpus would leave every property true for
    trivial reasons; this counts what a fixed (derandomized) run actually generates.
    """
    seen = {"examples": 0, "secret_key": 0, "secret_value": 0, "secret_pair": 0, "scrubbed": 0}

    def has_secret_key(value: Any) -> bool:
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if any(is_secret_key(key) for key in item):
                    return True
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return False

    def has_secret_pair(value: Any) -> bool:
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                if len(item) == 2 and isinstance(item[0], str) and is_secret_key(item[0]):
                    return True
                stack.extend(item)
        return False

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(st.one_of(json_values, payloads))
    def count(value: Any) -> None:
        seen["examples"] += 1
        seen["secret_key"] += has_secret_key(value)
        seen["secret_value"] += any(looks_like_secret(text) for text in strings_in(value))
        seen["secret_pair"] += has_secret_pair(value)
        seen["scrubbed"] += bool(scrub(value).paths)

    count()
    n = seen["examples"]
    assert n >= 100, seen
    assert seen["secret_key"] >= n // 10, seen
    assert seen["secret_value"] >= n // 10, seen
    assert seen["secret_pair"] >= n // 50, seen
    assert seen["scrubbed"] >= n // 4, seen


@pytest.mark.parametrize("mode", ["remove", "redact"])
def test_a_secret_key_name_that_is_itself_a_credential_is_reported_once(mode: str) -> None:
    # Found by test_prepare_payload_matches_scrub: "Bearer 0" is both a secret key name and a
    # credential; the fast path redacted it, then the text pass dropped it and reported it again.
    payload = {"max_tokens": [{"Bearer 0": None}], "a": {"Bearer x1": 1, "Bearer x2": {"k": 1}}}
    prepared = prepare_payload(payload, mode=mode, max_bytes=1 << 20)  # type: ignore[arg-type]
    expected = scrub(payload, mode=mode)  # type: ignore[arg-type]
    assert prepared.value == expected.value == {"max_tokens": [{}], "a": {}}
    assert sorted(prepared.scrubbed_paths) == sorted(expected.paths)
    assert len(prepared.scrubbed_paths) == 3


# --- one policy: scrub catches everything scrub_text redacts (issue 8 item 2) -----------

_FRAGMENTS = [
    *SECRET_KEYS[:40], *PLAIN_KEYS_CORPUS[:30], *SECRET_VALUES, *PLAIN_VALUES,
    "=", ": ", '": "', "'", '"', "--", " ", ";", "&", "?", ",", "\n", "hunter2", "Basic ",
    "Bearer ", "dXNlcjpwYXNz", "р", "а", "ο", "\u0301", "\u200b", "pass", "pw", "word",
    "https://", "@", "/", "sk-", "_live_", "ghp_", "whsec_", "abcdefghijklmnopqrstuvwxyz0123",
]  # fmt: skip
fragment_text = st.lists(
    st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=6)), min_size=1, max_size=8
).map("".join)


@settings(deadline=None, max_examples=400)
@given(fragment_text)
def test_scrub_catches_every_text_scrub_text_changes(text: str) -> None:
    redacted = scrub_text(text)
    assert scrub_text(redacted) == redacted  # idempotent
    if redacted == text:
        return
    assert looks_like_secret(text)
    assert scrub(text).value == REDACTED
    assert scrub({"k": text}).value == {}
    assert scrub([text]).value == [REDACTED]
    assert scrub({text: 1}).value == {}
    assert scrub({"a": {"b": [text]}}).value == {"a": {"b": [REDACTED]}}


@settings(deadline=None, max_examples=400)
@given(fragment_text)
def test_gate_never_misses_a_text_with_a_secret(text: str) -> None:
    if not looks_like_secret(text):
        return
    assert text_may_contain_secret(text)
    for value in ({"k": text}, [text], {text: 1}, {"a": [{"b": text}]}):
        assert text_may_contain_secret(json.dumps(value, ensure_ascii=False), json_text=True)
        assert text_may_contain_secret(json.dumps(value))


@settings(deadline=None, max_examples=200)
@given(
    st.dictionaries(
        st.one_of(fragment_text, st.sampled_from(PLAIN_KEYS_CORPUS)), fragment_text, max_size=4
    ),
    modes,
)
def test_prepare_payload_matches_scrub_on_fragment_text(payload: dict[str, Any], mode: str) -> None:
    payload = {k: v for k, v in payload.items() if "\x00" not in k + v}
    try:
        prepared = prepare_payload(payload, mode=mode, max_bytes=1 << 20)  # type: ignore[arg-type]
    except PayloadValidationError:
        return  # a lone surrogate: refused before scrubbing (tested elsewhere)
    expected = scrub(payload, mode=mode)  # type: ignore[arg-type]
    assert prepared.value == expected.value
    assert sorted(prepared.scrubbed_paths) == sorted(expected.paths)
