"""Image sources (spec §3.3, §13.5): how a task's image is classified, fetched and checked, and
the worker's cache by checksum, without a runtime."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile

import pytest

from prominence.config import get_settings
from prominence.contract.images import REGISTRY, UPLOAD, URL, image_kind
from prominence.runtimes import ImagePullError, images
from prominence.runtimes.spec import ImageSource


@pytest.mark.parametrize(
    ("image", "kind"),
    [
        ("busybox", REGISTRY),
        ("127.0.0.1:5000/prominence/busybox:latest", REGISTRY),
        ("shub://vsoch/hello-world", REGISTRY),
        ("https://example.org/images/tool.sif", URL),
        ("http://example.org/tool.tar", URL),
        ("tool.sif", UPLOAD),
        ("team/images/tool.tgz", UPLOAD),
        ("old.simg", UPLOAD),
        ("/mnt/storage/tool.sif", REGISTRY),
    ],
)
def test_image_kinds(image, kind):
    assert image_kind(image) == kind


def archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"[]"))
    return buffer.getvalue()


def source_of(content: bytes, sha256: str | None = None) -> ImageSource:
    return ImageSource(fetch=lambda dest: dest.write_bytes(content), sha256=sha256)


def test_a_gzipped_archive_is_unpacked_and_its_checksum_is_of_what_was_fetched(tmp_path):
    packed = gzip.compress(archive())
    fetched, sha256 = images.fetch_image(source_of(packed, hashlib.sha256(packed).hexdigest()), tmp_path)
    assert fetched.read_bytes() == archive() and images.is_archive(fetched)
    assert sha256 == hashlib.sha256(packed).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.tar"]


def test_a_sif_is_kept_as_fetched_and_is_no_archive(tmp_path):
    fetched, _ = images.fetch_image(source_of(b"#!/usr/bin/env run-singularity\n" + b"\0" * 600), tmp_path)
    assert fetched.name == "download" and not images.is_archive(fetched)


@pytest.mark.parametrize("expected", ["0" * 64, "sha256:" + "0" * 64])
def test_a_checksum_mismatch_fails_the_pull(tmp_path, expected):
    with pytest.raises(ImagePullError, match="does not match imageSha256"):
        images.fetch_image(source_of(archive(), expected), tmp_path)


def test_a_checksum_matches_in_either_case_and_with_its_prefix():
    digest = hashlib.sha256(b"x").hexdigest()
    images.check_sha256(ImageSource(sha256="sha256:" + digest.upper()), digest)
    images.check_sha256(ImageSource(), "anything")


def test_the_cache_finds_an_image_by_checksum_read_only_to_others(tmp_path, monkeypatch):
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    image = tmp_path / "image.sif"
    image.write_bytes(b"sif")
    digest = hashlib.sha256(b"sif").hexdigest()
    assert images.cached("singularity", digest, tmp_path / "job.sif") is None
    images.store("singularity", digest, image)
    hit = images.cached("singularity", "sha256:" + digest, tmp_path / "job.sif")
    assert hit == tmp_path / "job.sif" and hit.read_bytes() == b"sif" and hit.stat().st_mode & 0o777 == 0o644
    assert images.cached("udocker", digest, tmp_path / "other.sif") is None
    assert images.cached("singularity", None, tmp_path / "other.sif") is None


def test_the_cache_keeps_the_images_used_last_within_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    monkeypatch.setattr(get_settings(), "image_cache_bytes", 250)
    digests = []
    for n, content in enumerate([b"a" * 100, b"b" * 100, b"c" * 100]):
        image = tmp_path / f"image-{n}.sif"
        image.write_bytes(content)
        digests.append(hashlib.sha256(content).hexdigest())
        images.store("singularity", digests[-1], image)
        os.utime(images.cache_dir("singularity") / digests[-1], (1000 + n, 1000 + n))
        if n == 1:
            # The first image is used again: the second is now the one used longest ago.
            assert images.cached("singularity", digests[0], tmp_path / "job-0.sif") is not None
    held = {digest for digest in digests if images.cached("singularity", digest, tmp_path / f"j-{digest}") is not None}
    assert held == {digests[0], digests[2]}
    # The job that linked the evicted image before still has it.
    assert (tmp_path / "job-0.sif").read_bytes() == b"a" * 100


def test_an_image_larger_than_the_whole_cache_is_still_kept_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(get_settings(), "home", tmp_path)
    monkeypatch.setattr(get_settings(), "image_cache_bytes", 10)
    image = tmp_path / "big.sif"
    image.write_bytes(b"x" * 100)
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    images.store("singularity", digest, image)
    assert images.cached("singularity", digest, tmp_path / "job.sif") is not None


def test_cache_keys_are_per_owner_for_uploads_and_none_with_a_credential():
    digest = hashlib.sha256(b"x").hexdigest()
    assert ImageSource().cache_key("sha256:" + digest.upper()) == digest
    alices, bobs = ImageSource(scope="uploads/alice/i.sif"), ImageSource(scope="uploads/bob/i.sif")
    assert len({alices.cache_key(digest), bobs.cache_key(digest), digest}) == 3
    assert ImageSource(password="p").cache_key(digest) is None and ImageSource().cache_key(None) is None


def test_a_password_is_not_in_the_sources_repr():
    assert "hunter2" not in repr(ImageSource(username="u", password="hunter2"))


def test_an_archives_links_become_the_files_they_name(tmp_path):
    path = tmp_path / "image.tar"
    with tarfile.open(path, "w") as tar:
        layer = tarfile.TarInfo("sha.tar")
        layer.size = 5
        tar.addfile(layer, io.BytesIO(b"layer"))
        link = tarfile.TarInfo("id/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../sha.tar"
        tar.addfile(link)
    images.dereference_links(path)
    with tarfile.open(path) as tar:
        assert tar.getmember("id/layer.tar").isfile()
        assert tar.extractfile("id/layer.tar").read() == b"layer"


def test_an_archive_link_leading_out_of_it_fails_the_pull(tmp_path):
    path = tmp_path / "image.tar"
    with tarfile.open(path, "w") as tar:
        link = tarfile.TarInfo("id/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(link)
    with pytest.raises(ImagePullError, match="links outside"):
        images.dereference_links(path)
