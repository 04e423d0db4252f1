# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Far copies in an S3 bucket (AWS or an S3-compatible store) through boto3.

An S3 object exists only once its upload completed: a single PUT, or a multipart upload's final
CompleteMultipartUpload. A send cut short leaves at most an open multipart upload, which is not an
object and which the next send of the same name aborts. Each PUT carries the sha256 computed
locally (``ChecksumSHA256``; per part for multipart uploads) for the store to check before it
accepts the object, and records it in the object's metadata (``x-amz-meta-sha256``). Checking a
far copy later reads the object back and hashes it, which does not rely on the store.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import os

from ansible_collections.medops.runbook.plugins.module_utils.copy_target import CopyError, CopyTarget

try:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError as exc:  # the module reports it with missing_required_lib
    BOTO3_IMPORT_ERROR = exc
    BotoCoreError = ClientError = Exception
else:
    BOTO3_IMPORT_ERROR = None

CHUNK = 1024 * 1024


class S3Target(CopyTarget):
    kind = "s3"

    def __init__(self, bucket, prefix="", endpoint_url=None, region=None, access_key=None, secret_key=None,
                 session_token=None, validate_certs=True, multipart_threshold=64 * CHUNK, client=None):
        self.bucket, self.prefix = bucket, prefix
        self.endpoint_url = endpoint_url
        self.threshold = multipart_threshold
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None, aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None, aws_session_token=session_token or None, verify=validate_certs,
            # Path-style addressing works with every S3-compatible store (bucket names need no DNS).
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}))

    def describe(self):
        return "s3://%s/%s%s" % (self.bucket, self.prefix, " at %s" % self.endpoint_url if self.endpoint_url else "")

    def key(self, name):
        return self.prefix + name

    def call(self, what, func, **kwargs):
        try:
            return func(Bucket=self.bucket, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise CopyError("%s on %s failed: %s" % (what, self.describe(), exc))

    def list_entries(self):
        entries, token = {}, None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self.call("list", self.client.list_objects_v2, Prefix=self.prefix, **extra)
            for item in page.get("Contents") or []:
                name = item["Key"][len(self.prefix):]
                if name and "/" not in name:
                    entries[name] = item["Size"]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated"):
                return entries

    def read_text(self, name):
        body = self.call("read %s" % name, self.client.get_object, Key=self.key(name))["Body"]
        return body.read().decode("utf-8", "replace")

    def put(self, path, name, sha256):
        size = os.path.getsize(path)
        extra = {"Metadata": {"sha256": sha256}, "ChecksumAlgorithm": "SHA256"}
        try:
            if size < self.threshold:
                checksum = base64.b64encode(binascii.unhexlify(sha256)).decode("ascii")
                with open(path, "rb") as handle:
                    self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=handle, ContentLength=size,
                                           ChecksumSHA256=checksum, Metadata=extra["Metadata"])
            else:
                config = TransferConfig(multipart_threshold=self.threshold, multipart_chunksize=max(self.threshold // 4, 8 * CHUNK),
                                        max_concurrency=2, use_threads=True)
                self.client.upload_file(path, self.bucket, self.key(name), ExtraArgs=extra, Config=config)
        except (BotoCoreError, ClientError) as exc:
            raise CopyError("sending %s to %s failed: %s" % (name, self.describe(), exc))
        head = self.call("head %s" % name, self.client.head_object, Key=self.key(name))
        if head.get("ContentLength") != size or (head.get("Metadata") or {}).get("sha256") != sha256:
            raise CopyError("%s on %s is %s bytes with sha256 %s after the upload, expected %d bytes with %s" % (
                name, self.describe(), head.get("ContentLength"), (head.get("Metadata") or {}).get("sha256"), size, sha256))

    def far_sha256(self, names):
        found = {}
        for name in names:
            digest = hashlib.sha256()
            try:
                self.fetch(name, _HashSink(digest))
                found[name] = digest.hexdigest()
            except CopyError:
                found[name] = None
        return found

    def fetch(self, name, handle):
        body = self.call("fetch %s" % name, self.client.get_object, Key=self.key(name))["Body"]
        try:
            for chunk in iter(lambda: body.read(CHUNK), b""):
                handle.write(chunk)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise CopyError("fetching %s from %s failed: %s" % (name, self.describe(), exc))

    def remove(self, names):
        for start in range(0, len(names), 1000):
            objects = [{"Key": self.key(name)} for name in names[start:start + 1000]]
            answer = self.call("remove", self.client.delete_objects, Delete={"Objects": objects, "Quiet": True})
            if answer.get("Errors"):
                raise CopyError("cannot remove %s on %s" % (", ".join(e.get("Key", "?") for e in answer["Errors"]), self.describe()))

    def clean_partials(self, names):
        """Abort the open multipart uploads of ``names`` (a send that was killed)."""
        aborted = []
        for name in names:
            uploads = self.call("list uploads", self.client.list_multipart_uploads, Prefix=self.key(name)).get("Uploads") or []
            for upload in uploads:
                if upload["Key"] == self.key(name):
                    self.call("abort upload", self.client.abort_multipart_upload, Key=upload["Key"], UploadId=upload["UploadId"])
                    aborted.append("%s (upload %s)" % (name, upload["UploadId"][:12]))
        return aborted


class _HashSink(object):
    def __init__(self, digest):
        self.digest = digest

    def write(self, chunk):
        self.digest.update(chunk)
