"""`{% url %}` as Django's, remembering what it reversed (a builtin: settings.TEMPLATES).

Every page's shell reverses the same thirty links or so (navigation, the vault's tabs, the command bar), about a
tenth of a page's rendering; a link depends only on the URLconf, the script prefix, the language, the view name
and the arguments, which make the key. Only plain names with int or str arguments are remembered: a namespaced
name depends on the current app, and another argument (a model) on how it turns into text, so those, and names
that do not reverse, go through Django's tag each time.
"""

from django import template
from django.conf import settings
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape
from django.utils.translation import get_language

register = template.Library()

_REVERSED: dict[tuple, str] = {}
_PLAIN = (int, str)


def _scope(context) -> tuple:
    """What a link depends on besides its name and arguments. Reading the three thread-locals costs more than
    the rest of a remembered link, so a request reads them once, when its page draws its first link."""
    request = getattr(context, "request", None)
    scope = getattr(request, "_url_scope", None)
    if scope is None:
        scope = (get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), get_language())
        if request is not None:
            request._url_scope = scope
    return scope


class RememberedURLNode(URLNode):
    def render(self, context):
        view_name = self.view_name.resolve(context)  # a quoted name is a SafeString
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {name: value.resolve(context) for name, value in self.kwargs.items()}
        if (
            not isinstance(view_name, str)
            or ":" in view_name
            or any(type(value) not in _PLAIN for value in (*args, *kwargs.values()))
        ):
            return super().render(context)
        key = (
            *_scope(context),
            str(view_name),
            tuple((type(value), value) for value in args),
            tuple(sorted((name, type(value), value) for name, value in kwargs.items())),
        )
        url = _REVERSED.get(key)
        if url is None:
            try:
                url = reverse(view_name, args=args, kwargs=kwargs)
            except NoReverseMatch:
                return super().render(context)
            if len(_REVERSED) >= 4096:
                _REVERSED.clear()
            _REVERSED[key] = url
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    node = django_url(parser, token)
    return RememberedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
