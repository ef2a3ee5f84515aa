"""``tidings serve``: passcode hashing and config errors (the server itself: test_service.py)."""

import io

import pytest

from tidings.cli import EXIT_OK, EXIT_USAGE, main
from tidings.errors import ArgumentError
from tidings.service import hash_passcode, load_config, verify_passcode


def test_hash_passcode_reads_stdin_and_prints_a_verifiable_hash(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert main(["serve", "--hash-passcode"]) == EXIT_OK
    stored = capsys.readouterr().out.strip()
    assert stored.startswith("scrypt$")
    assert verify_passcode("s3cret", stored)
    assert not verify_passcode("s3cret ", stored)


def test_hashes_are_salted():
    assert hash_passcode("same") != hash_passcode("same")


def test_serve_needs_a_config(capsys):
    assert main(["serve"]) == EXIT_USAGE
    assert "--config is required" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[accounts]]\nid = "a"\npasscode = "plain"\n', "accounts[0].passcode: must be a hash"),
        ('[[accounts]]\nid = "a"\n', "accounts[0].passcode: must be a non-empty string"),
        ("[service]\n", "at least one [[accounts]] entry is required"),
        ("not toml = = 1", "not valid TOML"),
        ('[service]\nmax_body_bytes = 0\n[[accounts]]\nid="a"\n', "max_body_bytes"),
    ],
)
def test_bad_configs_are_one_line_usage_errors(tmp_path, capsys, text, message):
    config = tmp_path / "service.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ArgumentError) as caught:
        load_config(config)
    assert message in str(caught.value)
    assert main(["serve", "--config", str(config)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_the_same_account_twice_is_refused(tmp_path):
    stored = hash_passcode("x")
    config = tmp_path / "service.toml"
    config.write_text(f'[[accounts]]\nid = "a"\npasscode = "{stored}"\n' * 2, encoding="utf-8")
    with pytest.raises(ArgumentError, match="appears twice"):
        load_config(config)


def test_account_files_stay_inside_the_data_dir(tmp_path):
    stored = hash_passcode("x")
    config = tmp_path / "service.toml"
    config.write_text(f'[[accounts]]\nid = "../../etc"\npasscode = "{stored}"\n', encoding="utf-8")
    account = load_config(config).accounts["../../etc"]
    data_dir = tmp_path / "service-data"
    assert account.db.resolve().is_relative_to(data_dir)
    assert account.sink.resolve().is_relative_to(data_dir)
