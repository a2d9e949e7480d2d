"""One JSON decoder, two explicit rule sets: strict for request bodies, lenient for peers."""

from __future__ import annotations

import json
import math

import pytest

from smtp_profile.wire.json_decoding import InvalidJson, decode_json


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": -Infinity}', '{"a": 1e999}',
                                  '{"a": 1, "a": 2}', '{"a": ' + "9" * 31 + "}",
                                  '{"a": 0.' + "1" * 40 + "}"])
def test_strict_refuses_what_could_be_half_understood(text: str) -> None:
    with pytest.raises(InvalidJson):
        decode_json(text, strict=True)


def test_lenient_reads_on_and_leaves_the_judging_to_the_caller() -> None:
    value = decode_json('{"a": NaN, "b": 1e999, "c": ' + "9" * 5000 + ', "d": 1, "d": 2}',
                        strict=False)
    assert math.isnan(value["a"]) and value["b"] == math.inf and value["c"] == math.inf
    assert value["d"] == 2


@pytest.mark.parametrize("strict", [True, False])
def test_both_agree_on_ordinary_json_and_on_what_is_not_json(strict: bool) -> None:
    assert decode_json('{"a": [1, 2.5, "x", null, true]}', strict=strict) == {
        "a": [1, 2.5, "x", None, True]}
    assert decode_json("-" + "9" * 30, strict=strict) == -int("9" * 30)
    with pytest.raises(json.JSONDecodeError):
        decode_json("{", strict=strict)
