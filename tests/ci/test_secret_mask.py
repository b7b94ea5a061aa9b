"""Known secret values are masked in a stream of output, however it is cut into reads."""

import pytest

from appliance.ci.process import SecretMask

MASKED_VALUE = "hunter2-token"


def masked(secrets, *reads):
    mask = SecretMask(secrets)
    return b"".join(mask.feed(read) for read in reads) + mask.end()


def test_a_secret_is_masked_wherever_the_output_is_cut():
    output = f"token={MASKED_VALUE}; again {MASKED_VALUE}\n".encode()
    for cut in range(len(output) + 1):
        assert masked([MASKED_VALUE], output[:cut], output[cut:]) == b"token=***; again ***\n", cut


def test_a_secret_arriving_one_byte_per_read_is_masked():
    output = f"\xff{MASKED_VALUE}\xfe".encode("latin-1")
    assert masked([MASKED_VALUE], *(output[i : i + 1] for i in range(len(output)))) == b"\xff***\xfe"


def test_only_an_end_that_could_begin_a_secret_is_held_back():
    mask = SecretMask([MASKED_VALUE])
    assert mask.feed(b"started\n") == b"started\n"  # a line printed reaches the live log at once
    assert mask.feed(b"x" * 100 + b"hunter2") == b"x" * 100
    assert mask.feed(b"-tok") == b""
    assert mask.feed(b"en=1\n") == b"***=1\n"
    assert mask.feed(b"hunt") == b""
    assert mask.end() == b"hunt"  # never completed: it was not the secret


def test_of_two_secrets_one_inside_the_other_the_longer_is_masked_whole():
    secrets = ["abcd1234", "abcd1234-and-more"]
    assert masked(secrets, b"[abcd1234-and-", b"more] [abcd1234]") == b"[***] [***]"
    assert masked(secrets, b"[abcd1234-and-") == b"[***-and-"


@pytest.mark.parametrize("value", ["", "1", "yes"])
def test_values_too_short_to_be_secret_are_not_masked(value):
    assert masked([value], b"1 yes 1\n") == b"1 yes 1\n"


def test_without_secrets_the_output_passes_unchanged():
    mask = SecretMask([])
    assert mask.feed(b"any\xffthing") == b"any\xffthing" and mask.end() == b""
