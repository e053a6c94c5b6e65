"""Admin API access: bearer tokens and roles, browser sessions with CSRF, Origin checks, the open mode."""

from __future__ import annotations

import hashlib

import pytest

from palaryn_proxy.console.auth import Authenticator, AuthError
from palaryn_proxy.console.config import Role, parse_admin_config
from palaryn_proxy.errors import ConfigError

VIEWER, APPROVER = "v-token", "a-token"


def sha(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def auth() -> Authenticator:
    config = parse_admin_config(
        {
            "admin": {
                "tokens": [{"token": sha(VIEWER)}, {"token": sha(APPROVER), "role": "approver", "name": "bo"}]
            }
        }
    )
    return Authenticator(config)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "host": "admin.internal:9464"}


def test_bearer_tokens_carry_their_role(auth):
    assert auth.principal(bearer(VIEWER), "10.0.0.5").role is Role.VIEWER
    approver = auth.principal(bearer(APPROVER), "10.0.0.5")
    assert (approver.role, approver.name, approver.via) == (Role.APPROVER, "bo", "bearer")
    with pytest.raises(AuthError) as wrong:
        auth.principal(bearer("guess"), "127.0.0.1")
    assert wrong.value.status == 401
    with pytest.raises(AuthError) as missing:
        auth.principal({"host": "x"}, "127.0.0.1")  # tokens configured: loopback is no exception
    assert missing.value.status == 401


def test_viewer_may_not_change_state(auth):
    viewer = auth.principal(bearer(VIEWER), "10.0.0.5")
    with pytest.raises(AuthError) as refused:
        auth.check_change(viewer, bearer(VIEWER), Role.APPROVER)
    assert refused.value.status == 403
    auth.check_change(auth.principal(bearer(APPROVER), "10.0.0.5"), bearer(APPROVER), Role.APPROVER)


@pytest.mark.parametrize("extra", [{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}])
def test_cross_site_changes_are_refused(auth, extra):
    headers = {**bearer(APPROVER), **extra}
    with pytest.raises(AuthError) as refused:
        auth.check_change(auth.principal(headers, "10.0.0.5"), headers, Role.APPROVER)
    assert refused.value.code == "cross_origin"
    same = {**bearer(APPROVER), "origin": "http://admin.internal:9464"}
    auth.check_change(auth.principal(same, "10.0.0.5"), same, Role.APPROVER)


def test_browser_session_needs_its_csrf_token(auth):
    sid, session = auth.login(APPROVER, {}, "10.0.0.5")
    headers = {"cookie": f"other=1; palaryn_session={sid}", "host": "h:1"}
    who = auth.principal(headers, "10.0.0.5")
    assert (who.via, who.role) == ("session", Role.APPROVER)
    with pytest.raises(AuthError) as refused:
        auth.check_change(who, headers, Role.APPROVER)
    assert refused.value.code == "csrf"
    auth.check_change(who, {**headers, "x-csrf-token": session.csrf}, Role.APPROVER)
    auth.logout(who)
    with pytest.raises(AuthError):
        auth.principal(headers, "10.0.0.5")


def test_open_mode_is_loopback_only_under_a_loopback_host():
    auth = Authenticator(parse_admin_config({}))
    assert auth.principal({"host": "127.0.0.1:9464"}, "127.0.0.1").role is Role.APPROVER
    assert auth.principal({"host": "localhost:9464"}, "::1").via == "loopback"
    with pytest.raises(AuthError) as remote:
        auth.principal({"host": "127.0.0.1:9464"}, "192.168.1.9")
    assert remote.value.code == "loopback_only" and "admin.tokens" in str(remote.value)
    with pytest.raises(AuthError) as rebound:  # DNS rebinding: a page of evil.example on 127.0.0.1
        auth.principal({"host": "evil.example:9464"}, "127.0.0.1")
    assert rebound.value.code == "bad_host"


@pytest.mark.parametrize(
    ("admin", "message"),
    [
        ({"tokens": [{"token": "plain-token"}]}, "admin.tokens[0].token"),
        ({"tokens": [{"token": sha("x"), "role": "root"}]}, "admin.tokens[0].role"),
        ({"tokens": {"token": sha("x")}}, "admin.tokens"),
        ({"users": []}, "admin.users"),
    ],
)
def test_config_errors_name_the_key(admin, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_admin_config({"admin": admin})


def test_admin_listen_defaults_to_the_metrics_listener():
    assert parse_admin_config({"metrics_listen": "127.0.0.1:9464"}).listen == "127.0.0.1:9464"
    assert parse_admin_config({"metrics_listen": "127.0.0.1:9464", "admin_listen": "off"}).listen is None
    assert parse_admin_config({"admin_listen": "0.0.0.0:9500"}).listen == "0.0.0.0:9500"
