"""Sign-in, throttling, sessions that really end, safe redirects, CSRF, and the user CLI."""

import pytest
import time_machine
from sqlalchemy import select

from hiretrack import create_app
from hiretrack.auth.models import ApiToken, ThrottleCounter, User
from hiretrack.auth.services import LOGIN_FAILED_MESSAGE, user_for_api_token
from hiretrack.database import utcnow
from hiretrack.extensions import db
from tests.conftest import PASSWORD, base_config


def test_login_with_right_password_reaches_dashboard(client, make_user, login):
    user = make_user("manager", name="Maria Manager")
    response = login(user, follow=True)
    assert response.status_code == 200
    assert b"Waiting on you" in response.data
    assert b"Maria Manager" in response.data


@pytest.mark.parametrize("case", ["wrong password", "unknown user", "inactive account"])
def test_every_login_failure_gives_the_same_message(client, make_user, case):
    user = make_user("manager")
    email, password = user.email, PASSWORD
    if case == "wrong password":
        password = "not the password"
    elif case == "unknown user":
        email = "nobody@acme.example"
    else:
        user.active = False
        db.session.commit()
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 200
    assert LOGIN_FAILED_MESSAGE.encode() in response.data.replace(b"&#39;", b"'")
    assert b"Waiting on you" not in response.data


def _sign_in(client, email, password, address):
    response = client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code, response.data.decode().replace("&#39;", "'")


def test_repeated_failures_slow_the_failing_client_even_with_the_right_password(client, make_user):
    user = make_user("manager")
    with time_machine.travel(utcnow(), tick=False):
        for _ in range(6):
            client.post("/login", data={"email": user.email, "password": "wrong password!"})
        counter = db.session.get(ThrottleCounter, f"login:account:{user.email}")
        assert counter is not None and counter.blocked_until is not None
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert b"Waiting on you" not in response.data
    assert b"Too many failed sign-ins from this device. Wait 30 seconds" in response.data


def test_an_attacker_cannot_lock_the_owner_out_and_waits_longer_each_time(app, make_user):
    """Six wrong passwords from A: the owner still signs in from B; A's delays double."""
    user = make_user("manager")
    attacker = app.test_client()
    with time_machine.travel(utcnow(), tick=False) as clock:
        failures = [_sign_in(attacker, user.email, f"guess {n}", "10.0.0.1") for n in range(6)]
        assert all(LOGIN_FAILED_MESSAGE in body for _, body in failures)
        assert _sign_in(app.test_client(), user.email, PASSWORD, "10.0.0.2")[0] == 302

        waits = []
        for attempt in range(3):
            if attempt:
                status, body = _sign_in(attacker, user.email, "another guess", "10.0.0.1")
                assert status == 200 and LOGIN_FAILED_MESSAGE in body  # the guess was checked
            status, body = _sign_in(attacker, user.email, PASSWORD, "10.0.0.1")
            assert status == 200  # waiting: not even the right password is tried
            waits.append(body.split("Wait ")[1].split(" before")[0])
            number, unit = waits[-1].split()
            clock.shift(int(number) * (60 if unit.startswith("minute") else 1))
        assert waits == ["30 seconds", "1 minute", "2 minutes"]
        # A clean browser is never held, however long the attacker goes on.
        assert _sign_in(app.test_client(), user.email, PASSWORD, "10.0.0.3")[0] == 302


def test_logout_ends_a_copied_session_cookie(app, make_user, login, client):
    user = make_user("manager")
    login(user)
    stolen = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/dashboard").status_code == 200
    assert client.post("/logout").status_code == 302
    response = thief.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_logout_needs_post(client, make_user, login):
    login(make_user("manager"))
    assert client.get("/logout").status_code == 405


def test_password_change_ends_other_sessions_but_keeps_this_one(app, client, make_user, login):
    user = make_user("manager")
    login(user)
    other = app.test_client()
    other.post("/login", data={"email": user.email, "password": PASSWORD})
    assert other.get("/dashboard").status_code == 200
    response = client.post(
        "/profile",
        data={
            "pw-current_password": PASSWORD,
            "pw-new_password": "a brand new password",
            "pw-confirm": "a brand new password",
            "pw-submit": "Change password",
        },
        follow_redirects=True,
    )
    assert b"Password changed" in response.data
    assert client.get("/dashboard").status_code == 200
    assert other.get("/dashboard").status_code == 302


def test_deactivation_ends_sessions_and_tokens(client, make_user, login, runner):
    user = make_user("manager")
    login(user)
    result = runner.invoke(args=["tokens", "create", "--email", user.email])
    token = result.output.strip()
    assert user_for_api_token(token).id == user.id
    result = runner.invoke(args=["users", "deactivate", "--email", user.email])
    assert result.exit_code == 0, result.output
    assert client.get("/dashboard").status_code == 302
    assert user_for_api_token(token) is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/steal",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ],
)
def test_next_redirect_stays_on_this_site(client, make_user, target):
    user = make_user("manager")
    response = client.post(
        f"/login?next={target}", data={"email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


def test_next_redirect_to_a_local_page_is_kept(client, make_user):
    user = make_user("manager")
    response = client.post("/login?next=/profile", data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/profile"


def test_forms_refuse_posts_without_csrf_token(tmp_path, database_url):
    config = base_config(database_url, tmp_path) | {"WTF_CSRF_ENABLED": True}
    app = create_app(config)
    with app.app_context():
        if database_url.startswith("sqlite"):
            db.create_all()
        client = app.test_client()
        response = client.post("/login", data={"email": "a@b.c", "password": "x" * 12})
        assert b"Waiting on you" not in response.data
        page = client.get("/login")
        assert b'name="csrf_token"' in page.data
        db.session.remove()
        if not database_url.startswith("sqlite"):
            from tests.conftest import empty_all_tables

            empty_all_tables()
        db.engine.dispose()


def test_users_create_reads_password_from_stdin_and_hashes_it(runner, ctx):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "New.Person@Acme.example",
            "--name",
            "New Person",
            "--role",
            "recruiter",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output
    user = db.session.scalars(select(User).where(User.email == "new.person@acme.example")).one()
    assert user.role == "recruiter"
    assert user.password_hash.startswith("scrypt:")
    assert user.check_password("a long enough password")


def test_users_create_prompts_without_echo_and_rejects_short_passwords(runner, ctx):
    result = runner.invoke(
        args=["users", "create", "--email", "x@acme.example", "--name", "X", "--role", "manager"],
        input="short\nshort\n",
    )
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output
    assert "short\n" not in result.output.replace("Password: \n", "")


def test_tokens_create_prints_once_and_stores_only_a_hash(runner, make_user):
    user = make_user("manager")
    result = runner.invoke(args=["tokens", "create", "--email", user.email, "--label", "ATS"])
    plain = result.output.strip()
    assert plain.startswith("ht_") and len(plain) > 30
    stored = db.session.scalars(select(ApiToken)).one()
    assert stored.token_hash != plain and plain not in stored.token_hash
    assert user_for_api_token(plain).id == user.id
    assert user_for_api_token(plain + "x") is None


def test_security_headers_are_set(client):
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"]


def test_password_fields_tell_password_managers_what_they_hold(client, make_user, login):
    sign_in = client.get("/login").get_data(as_text=True)
    assert 'autocomplete="username"' in sign_in
    assert 'autocomplete="current-password"' in sign_in
    login(make_user("manager"))
    profile = client.get("/profile").get_data(as_text=True)
    assert profile.count('autocomplete="new-password"') == 2
    assert 'autocomplete="current-password"' in profile
