"""The publisher's own SNS client: its Signature Version 4 is botocore's to the character, its
PublishBatch is the Query protocol's, and it reads SNS's answers (taken, refused, an error)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st
from proxy_failover.notify import sns_http

CREDS = sns_http.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
SESSION = sns_http.Credentials("ASIAEXAMPLE", "secret/with+chars", "FwoGZXIvYXdzEJr//////////token==")


def botocore_authorization(url: str, body: bytes, creds: sns_http.Credentials, region: str) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(creds.access_key, creds.secret_key, creds.token), "sns", region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("url", "creds", "region"),
    [
        ("https://sns.eu-west-1.amazonaws.com/", CREDS, "eu-west-1"),
        ("https://sns.us-east-1.amazonaws.com/", SESSION, "us-east-1"),
        ("http://127.0.0.1:4566/", CREDS, "eu-west-1"),
    ],
)
def test_the_signature_is_botocores(url, creds, region):
    body = sns_http.publish_batch_body(
        "arn:aws:sns:eu-west-1:123456789012:events",
        [{"Id": "0", "Message": '{"a": "b c", "d": "é/+&="}', "MessageAttributes": {}}],
    )
    theirs = botocore_authorization(url, body, creds, region)
    moment = datetime.strptime(theirs["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    ours = sns_http.signed_headers("POST", url, body, headers, creds, region, now=moment)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=200),
            st.dictionaries(
                st.sampled_from(["type", "severity", "proxyId", "drill"]), st.text(min_size=1, max_size=30)
            ),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_publish_batch_encodes_every_entry_and_attribute_as_the_query_protocol_does(entries):
    body = sns_http.publish_batch_body(
        "arn:aws:sns:eu-west-1:1:t",
        [
            {
                "Id": str(k),
                "Message": message,
                "MessageAttributes": {
                    n: {"DataType": "String", "StringValue": v} for n, v in attributes.items()
                },
            }
            for k, (message, attributes) in enumerate(entries)
        ],
    )
    form = dict(parse_qsl(body.decode(), keep_blank_values=True))
    assert form["Action"] == "PublishBatch" and form["TopicArn"] == "arn:aws:sns:eu-west-1:1:t"
    for k, (message, attributes) in enumerate(entries, start=1):
        member = f"PublishBatchRequestEntries.member.{k}"
        assert form[f"{member}.Id"] == str(k - 1) and form[f"{member}.Message"] == message
        named = {
            form[f"{member}.MessageAttributes.entry.{j}.Name"]: form[
                f"{member}.MessageAttributes.entry.{j}.Value.StringValue"
            ]
            for j in range(1, len(attributes) + 1)
        }
        assert named == attributes


def test_an_answer_says_what_was_taken_and_what_was_refused():
    answer = (
        b'<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>'
        b"<Successful><member><Id>0</Id><MessageId>m0</MessageId></member>"
        b"<member><Id>2</Id><MessageId>m2</MessageId></member></Successful>"
        b"<Failed><member><Id>1</Id><Code>InvalidParameter</Code><Message>too long</Message>"
        b"<SenderFault>true</SenderFault></member></Failed>"
        b"</PublishBatchResult></PublishBatchResponse>"
    )
    batch = sns_http.parse_batch(200, answer)
    assert batch.successful == ["0", "2"] and batch.failed == [("1", "InvalidParameter: too long")]


def test_an_error_answer_is_refused_with_its_code():
    answer = (
        b'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
        b"<Code>NotFound</Code><Message>Topic does not exist</Message></Error></ErrorResponse>"
    )
    with pytest.raises(sns_http.Refused, match="NotFound: Topic does not exist") as refused:
        sns_http.parse_batch(404, answer)
    assert refused.value.status == 404
    with pytest.raises(sns_http.Refused, match="HTTP 502"):
        sns_http.parse_batch(502, b"<html>bad gateway")


def test_the_endpoint_is_the_topics_regions_unless_one_is_configured(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_SNS", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert sns_http.endpoint_for("eu-west-1") == "https://sns.eu-west-1.amazonaws.com"
    assert sns_http.endpoint_for("cn-north-1") == "https://sns.cn-north-1.amazonaws.com.cn"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566/")
    assert sns_http.endpoint_for("eu-west-1") == "http://127.0.0.1:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:9000")
    assert sns_http.endpoint_for("eu-west-1") == "http://127.0.0.1:9000"


def test_credentials_come_from_the_environment_first(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s1")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "t1")
    assert sns_http.credentials() == sns_http.Credentials("AKIA1", "s1", "t1")


def _slow_parse(status: int, raw: bytes) -> sns_http.Batch:
    """The XML parser's reading alone (the fast path switched off)."""
    original = sns_http._ALL_TAKEN
    try:
        sns_http._ALL_TAKEN = __import__("re").compile(rb"(?!)")
        return sns_http.parse_batch(status, raw)
    finally:
        sns_http._ALL_TAKEN = original


@pytest.mark.parametrize(
    "answer",
    [
        # compact, as the local sink answers
        b'<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult>'
        b"<Successful><member><Id>0</Id><MessageId>m0</MessageId></member>"
        b"<member><Id>1</Id><MessageId>m1</MessageId></member></Successful><Failed/></PublishBatchResult>"
        b"</PublishBatchResponse>",
        # pretty-printed, Failed first, MessageId before Id, a FIFO topic's sequence number
        b'<?xml version="1.0"?>\n<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">\n'
        b"  <PublishBatchResult>\n    <Failed/>\n    <Successful>\n      <member>\n"
        b"        <MessageId>m9</MessageId>\n        <SequenceNumber>1</SequenceNumber>\n"
        b"        <Id>9</Id>\n      </member>\n    </Successful>\n  </PublishBatchResult>\n"
        b"  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\n</PublishBatchResponse>\n",
        # nothing taken (every entry refused): the parser's path
        b"<PublishBatchResponse><PublishBatchResult><Successful/><Failed><member><Id>0</Id>"
        b"<Code>InvalidParameter</Code><Message>too long</Message></member></Failed>"
        b"</PublishBatchResult></PublishBatchResponse>",
        # an id that needs an entity: the parser's path
        b"<PublishBatchResponse><PublishBatchResult><Successful><member><Id>a&amp;b</Id>"
        b"<MessageId>m</MessageId></member></Successful><Failed/></PublishBatchResult></PublishBatchResponse>",
    ],
)
def test_an_answer_that_took_everything_reads_as_the_xml_parser_reads_it(answer):
    read = sns_http.parse_batch(200, answer)
    assert read == _slow_parse(200, answer)
    assert read.successful or read.failed


def test_an_error_answer_never_takes_the_fast_path():
    answer = (
        b"<ErrorResponse><Error><Code>Throttled</Code><Message>slow down</Message></Error></ErrorResponse>"
    )
    with pytest.raises(sns_http.Refused, match="Throttled"):
        sns_http.parse_batch(200, answer)


@given(st.text(max_size=300))
def test_a_value_is_escaped_exactly_as_quote_escapes_it(text):
    from urllib.parse import quote

    assert sns_http._form_value(text) == quote(text, safe="-_.~")
    message = __import__("json").dumps({"reason": text})
    assert sns_http._form_value(message) == quote(message, safe="-_.~")
