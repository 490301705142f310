"""Local HTTP servers that speak the WeCom, Feishu and Slack APIs the bot calls, one module each.

Each records every request and answers like the platform does, including its
failure modes: tokens that expire (``expire_tokens()``), one-shot scripted answers
(``script(endpoint, answer, times=1)`` with ``rate_limited()``, ``server_error()``,
``html_login_page()`` or any ``Answer``), and platform-shaped error bodies.

    with FakeWeCom(corp_id="ww1", secret="s") as wecom:
        settings = Settings(wecom_api_base=wecom.base_url, ...)
        ...
        assert wecom.sent_texts("zhangsan") == ["收到"]
"""

from tests.fakes.api_server import Answer, Recorded, html_login_page, json_answer, rate_limited, server_error
from tests.fakes.fake_feishu import FakeFeishu, feishu_buttons
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.fake_wecom import FakeWeCom

__all__ = [
    "Answer",
    "FakeFeishu",
    "FakeSlack",
    "FakeWeCom",
    "Recorded",
    "feishu_buttons",
    "html_login_page",
    "json_answer",
    "rate_limited",
    "server_error",
]
