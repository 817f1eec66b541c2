"""Design Studio's pure parts: list queries, email bodies merged over what is stored,
translations over the default language."""

import pytest

from tidings.errors import ApiError
from tidings.templates import design_studio as studio


def test_list_queries_default_and_parse():
    assert studio.parse_listing({}) == studio.Listing()
    listing = studio.parse_listing(
        {
            "parent_folder_id": "f1",
            "direct_descendants_only": "true",
            "sort_by": "name",
            "sort_order": "desc",
            "created_after": "100",
            "updated_before": "200",
            "page": "3",
            "limit": "10",
            "is_template": "false",
            "has_translations": "any",
            "is_linked": "true",
        }
    )
    assert listing == studio.Listing(
        parent="f1",
        direct_only=True,
        sort="name",
        descending=True,
        created=(100, None),
        updated=(None, 200),
        page=3,
        limit=10,
        is_template=False,
        is_linked=True,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sort_by", "size"),
        ("sort_order", "up"),
        ("limit", "0"),
        ("limit", "10001"),
        ("page", "-1"),
        ("created_before", "yesterday"),
        ("is_template", "yes"),
        ("direct_descendants_only", "1"),
    ],
)
def test_bad_list_parameters_are_400s_naming_them(name, value):
    with pytest.raises(ApiError) as caught:
        studio.parse_listing({name: value})
    assert (caught.value.status, caught.value.field) == (400, name)


def test_email_bodies_merge_over_the_stored_one_key_by_key():
    stored = {"content": {"subject": "Hi", "html": "<p/>"}, "envelope": {"from_id": 1}}
    merged = studio.parse_email_body({"content": {"subject": "Hello"}, "transformers": {}}, stored)
    assert merged == {
        "content": {"subject": "Hello", "html": "<p/>"},
        "envelope": {"from_id": 1},
        "transformers": {},
    }


@pytest.mark.parametrize(
    "body",
    [
        {"content": "x"},
        {"content": {"body": "x"}},
        {"content": {"subject": 3}},
        {"envelope": {"from_id": "1"}},
        {"envelope": {"from_id": True}},
        {"envelope": {"to": "x"}},
    ],
)
def test_bad_email_bodies_are_400s(body):
    with pytest.raises(ApiError) as caught:
        studio.parse_email_body(body, {})
    assert caught.value.status == 400


def test_a_translation_overrides_only_what_it_sets():
    base = {"content": {"subject": "Hi", "html": "<p>Hi</p>"}, "envelope": {"from_id": 1}}
    override = {"content": {"subject": "Salut", "html": None}, "envelope": {}}
    assert studio.merge(base, override) == {
        "content": {"subject": "Salut", "html": "<p>Hi</p>"},
        "envelope": {"from_id": 1},
        "transformers": {},
    }
