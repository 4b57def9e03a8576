"""Production settings (DEBUG off) pass Django's deployment checks; every page carries the security headers."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings


def _production_env() -> dict:
    env = os.environ.copy()
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests' conftest; never in deployment
    env.update({"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(60), "ALLOWED_HOSTS": "portal.example.com"})
    return env


def test_manage_py_check_deploy_passes_with_the_production_settings():
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=settings.BASE_DIR, env=_production_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_turns_on_secure_cookies_hsts_and_https_redirect():
    code = ("from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
            "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_HTTPONLY, s.X_FRAME_OPTIONS)")
    env = _production_env() | {"DJANGO_SETTINGS_MODULE": "portal.settings"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code], cwd=settings.BASE_DIR,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["True"] * 7 + ["DENY"], result.stderr


@pytest.mark.django_db
def test_pages_carry_a_csp_without_inline_scripts_or_styles_and_deny_framing(alice_client):
    response = alice_client.get("/vaults/")
    assert response.status_code == 200
    csp = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    # htmx neither injects its indicator styles nor copies a style attribute onto an element it swaps in.
    assert b'"includeIndicatorStyles":false,"attributesToSettle":["class","width","height"]' in response.content
    assert b"{#" not in response.content and b"{% comment" not in response.content


def test_no_template_has_inline_scripts_or_style_attributes():
    import re

    offenders = []
    for path in (settings.BASE_DIR / "templates").rglob("*.html"):
        if path.parts[-2] == "admin":
            continue  # Django's admin pages get 'unsafe-inline' styles only (portal/security.py).
        text = path.read_text()
        inline = (r"\sstyle=", r"<style", r"<script(?![^>]*\ssrc=)", r"\son\w+=", r"javascript:")
        if any(re.search(pattern, text) for pattern in inline):
            offenders.append(str(path.relative_to(settings.BASE_DIR)))
    assert offenders == []
