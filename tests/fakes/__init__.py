"""Local servers that speak providers' protocols, for adapter and end-to-end tests.

Each runs in a thread of its own on a free port of 127.0.0.1, is ready when
its context manager yields, records what it received and can be scripted to
fail: `smtp.FakeSmtp`, `twilio.FakeTwilio`, `fcm.FakeFcm`, `apns.FakeApns`.
`tls.TestCA` issues the certificates the TLS ones need.
"""
