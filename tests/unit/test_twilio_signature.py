"""Twilio's request signature (`X-Twilio-Signature`), against Twilio's own test vector."""

from tidings.providers import twilio

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="  # twilio-python's request validator tests


def test_the_signature_of_twilios_example():
    assert twilio.signature("12345", URL, PARAMS.items()) == EXPECTED
    assert twilio.signed_by("12345", URL, reversed(list(PARAMS.items())), EXPECTED)


def test_another_token_url_or_value_does_not_verify():
    assert not twilio.signed_by("54321", URL, PARAMS.items(), EXPECTED)
    assert not twilio.signed_by("12345", URL + "&baz=3", PARAMS.items(), EXPECTED)
    assert not twilio.signed_by("12345", URL, {**PARAMS, "Digits": "1235"}.items(), EXPECTED)
    assert not twilio.signed_by("12345", URL, PARAMS.items(), "")
