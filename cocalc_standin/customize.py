"""The site's public settings that ``system.getCustomize`` answers, as CoCalc derives them.

CoCalc reads its ``server_settings`` table (name/value text pairs), fills in a
default for every setting that has no row, and maps the result to camel-case
keys.  The defaults here are what a CoCalc hub with an empty ``server_settings``
table answers (measured); a row in the stand-in's ``server_settings`` overrides
its key as it would in CoCalc.
"""
from typing import Any, Dict, List, Optional, Tuple

#: ``(answer key, setting name, kind, default)``; kind ``str``, ``bool`` or ``int``.
SETTINGS: Tuple[Tuple[str, str, str, Any], ...] = (
    ("siteName", "site_name", "str", "Open CoCalc"),
    ("siteDescription", "site_description", "str", "Collaborative Calculation"),
    ("organizationName", "organization_name", "str", ""),
    ("organizationEmail", "organization_email", "str", ""),
    ("organizationURL", "organization_url", "str", ""),
    ("termsOfServiceURL", "terms_of_service_url", "str", ""),
    ("helpEmail", "help_email", "str", ""),
    ("isCommercial", "commercial", "bool", False),
    ("kucalc", "kucalc", "str", "no"),
    ("sshGateway", "ssh_gateway", "bool", False),
    ("sshGatewayDNS", "ssh_gateway_dns", "str", ""),
    ("anonymousSignup", "anonymous_signup", "bool", False),
    ("anonymousSignupLicensedShares", "anonymous_signup_licensed_shares", "bool", False),
    ("emailSignup", "email_signup", "bool", True),
    ("accountCreationInstructions", "account_creation_email_instructions", "str", ""),
    ("accountCreationRedirectEnabled", "account_creation_redirect_enabled", "bool", False),
    ("accountCreationRedirectMessage", "account_creation_redirect_message", "str",
     "New accounts should be created on the recommended site. Existing users can still sign in here."),
    ("accountCreationRedirectUrl", "account_creation_redirect_url", "str", ""),
    ("accountCreationRedirectLinkText", "account_creation_redirect_link_text", "str",
     "Create an account on the recommended site"),
    ("accountCreationRedirectAllowLegacy", "account_creation_redirect_allow_legacy", "bool", True),
    ("accountCreationRedirectLegacyButtonText", "account_creation_redirect_legacy_button_text", "str",
     "Create an account here anyway"),
    ("signInBannerEnabled", "sign_in_banner_enabled", "bool", False),
    ("signInBannerMessage", "sign_in_banner_message", "str", ""),
    ("signInBannerUrl", "sign_in_banner_url", "str", ""),
    ("signInBannerLinkText", "sign_in_banner_link_text", "str", "Go to the recommended site"),
    ("logoSquareURL", "logo_square", "str", ""),
    ("logoRectangularURL", "logo_rectangular", "str", ""),
    ("splashImage", "splash_image", "str", ""),
    ("shareServer", "share_server", "bool", False),
    ("googleAnalytics", "google_analytics", "str", ""),
    ("indexInfo", "index_info_html", "str", ""),
    ("indexTagline", "index_tagline", "str", ""),
    ("imprint", "imprint", "str", ""),
    ("policies", "policies", "str", ""),
    ("support", "support", "str", ""),
    ("supportVideoCall", "support_video_call", "str", "https://calendly.com/cocalc/discovery?back=1"),
    ("dns", "dns", "str", ""),
    ("stripePublishableKey", "stripe_publishable_key", "str", ""),
    ("reCaptchaKey", "re_captcha_v3_publishable_key", "str", ""),
    ("sandboxProjectId", "sandbox_project_id", "str", ""),
    ("sandboxProjectsEnabled", "sandbox_projects_enabled", "bool", False),
    ("openaiEnabled", "openai_enabled", "bool", False),
    ("googleVertexaiEnabled", "google_vertexai_enabled", "bool", False),
    ("mistralEnabled", "mistral_enabled", "bool", False),
    ("anthropicEnabled", "anthropic_enabled", "bool", False),
    ("xaiEnabled", "xai_enabled", "bool", False),
    ("ollamaEnabled", "ollama_enabled", "bool", False),
    ("neuralSearchEnabled", "neural_search_enabled", "bool", False),
    ("jupyterApiEnabled", "jupyter_api_enabled", "bool", True),
    ("computeServersEnabled", "compute_servers_enabled", "bool", False),
    ("cloudFilesystemsEnabled", "cloud_filesystems_enabled", "bool", False),
    ("githubProjectId", "github_project_id", "str", ""),
    ("cookieBannerEnabled", "cookie_banner_enabled", "bool", False),
    ("cookieBannerText", "cookie_banner_text", "str",
     "We use cookies that are strictly necessary for sign-in and session management. With your consent, we use "
     "optional analytics cookies and first-party usage metrics to understand how the site is used. Embedded YouTube "
     "videos are not loaded until you choose to play them. Signed-in users can manage these preferences in Account "
     "settings; signed-out visitors can clear cookie choices from the footer."),
)
#: ``version`` answer keys and their settings (integers, 0 by default).
VERSIONS = (
    ("min_project", "version_min_project"),
    ("min_compute_server", "version_min_compute_server"),
    ("min_browser", "version_min_browser"),
    ("recommended_browser", "version_recommended_browser"),
    ("compute_server_min_project", "version_compute_server_min_project"),
)
#: The ``kucalc`` value of cocalc.com, the only mode that shows landing pages.
KUCALC_COCALC_COM = "yes"


def _to_bool(text: Optional[str]) -> bool:
    return text in ("true", "yes")


def _to_int(text: Optional[str]) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        return 0


def site_url(dns: str) -> str:
    """CoCalc's ``siteURL``: the domain (``localhost`` when unset) with ``https://`` unless a scheme is given."""
    dns = dns.lower() or "localhost"
    return dns if dns.startswith("http") else f"https://{dns}"


def customize(raw: Dict[str, str], fallback_dns: str = "") -> Dict[str, Any]:
    """Every customize key from *raw* (``server_settings`` name -> value); *fallback_dns* when no ``dns`` row."""
    answer: Dict[str, Any] = {}
    for key, name, kind, default in SETTINGS:
        if name not in raw:
            answer[key] = default
        elif kind == "bool":
            answer[key] = _to_bool(raw[name])
        else:
            answer[key] = raw[name]
    if "dns" not in raw:
        answer["dns"] = fallback_dns
    answer["siteName"] = answer["siteName"] or "On Premises CoCalc"
    answer["siteDescription"] = answer["siteDescription"] or "Collaborative Calculation using Python, Sage, R, Julia, and more."
    answer["contactEmail"] = answer["organizationEmail"] or answer["helpEmail"]
    answer["landingPages"] = _to_bool(raw.get("landing_pages")) and answer["kucalc"] == KUCALC_COCALC_COM
    answer["siteURL"] = site_url(answer["dns"])
    zendesk = [raw.get(n, "") for n in ("zendesk_token", "zendesk_username", "zendesk_uri")]
    answer["zendesk"] = next((z for z in zendesk if not z), zendesk[-1])
    answer["strategies"] = []
    answer["verifyEmailAddresses"] = _to_bool(raw.get("verify_emails")) and _to_bool(raw.get("email_enabled"))
    answer["version"] = {key: _to_int(raw.get(name, "0")) for key, name in VERSIONS}
    return answer


def pick(answer: Dict[str, Any], fields: Any) -> Dict[str, Any]:
    """CoCalc's ``copy_with``: only the named keys that exist (*fields* a name or a list of names)."""
    names: List[Any] = [fields] if isinstance(fields, str) else list(fields)
    return {name: answer[name] for name in names if isinstance(name, str) and name in answer}
