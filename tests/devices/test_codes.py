"""Site and equipment codes: ISO 7064 MOD 11-2 check characters and clear errors."""

from __future__ import annotations

import pytest

from devices.codes import (
    CodeError,
    make_equipment_code,
    make_site_code,
    mod11_2_check_character,
    parse_equipment_code,
    parse_site_code,
)


def test_check_character_matches_the_resident_id_scheme() -> None:
    # GB 11643: the same algorithm over the first 17 digits of 11010519491231002X gives X
    assert mod11_2_check_character("11010519491231002") == "X"


def test_protocol_example_code_parses() -> None:
    code = parse_equipment_code("320705-0042-007-4")
    assert (code.division, code.serial, code.item, code.check) == ("320705", "0042", "007", "4")
    assert str(code.site) == "320705-0042"


def test_wrong_check_character_is_rejected_naming_the_expected_one() -> None:
    with pytest.raises(CodeError, match=r"wrong check character '5', expected '4'"):
        parse_equipment_code("320705-0042-007-5")


@pytest.mark.parametrize(
    "text", ["320705-0042-007", "320705-042-007-4", "32070a-0042-007-4", "320705-0042-007-x", ""]
)
def test_malformed_equipment_code_is_rejected_with_its_shape(text: str) -> None:
    with pytest.raises(CodeError, match="AAAAAA-SSSS-III-C"):
        parse_equipment_code(text)


def test_made_codes_round_trip_for_every_item_number() -> None:
    site = make_site_code("320705", 42)
    for item in range(1000):
        code = make_equipment_code(site, item)
        assert parse_equipment_code(str(code)) == code


def test_every_check_character_value_occurs_including_x() -> None:
    seen = {make_equipment_code("110105-0001", n).check for n in range(200)}
    assert seen == set("0123456789X")


def test_site_code_shape_is_enforced() -> None:
    assert str(parse_site_code("320705-0042")) == "320705-0042"
    with pytest.raises(CodeError, match="AAAAAA-SSSS"):
        parse_site_code("320705-42")
    with pytest.raises(ValueError, match="6 digits"):
        make_site_code("3207", 1)
