"""ebMS3 / AS4 error codes (ICD Annex 4 Tables 20-24) and the exception that carries one.

Every refusal of the AS4 codec is an :class:`EbmsError` with the precise code, so that the
simulator can answer with an ebMS error signal (ebMS3 §6, ICD §4.3.2) instead of an HTTP 500.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["EBMS_ERRORS", "SUB_CODES", "EbmsError", "EbmsErrorSpec"]


class EbmsErrorSpec(NamedTuple):
    """One row of the ebMS error tables: ebMS3 §6.7, AS4 §5.2 (ICD Annex 4)."""

    short_description: str
    severity: str  # "failure" | "warning"
    category: str  # Content | Communication | Unpackaging | Processing
    origin: str  # "ebMS" | "security" | "reliability"
    description: str


EBMS_ERRORS: dict[str, EbmsErrorSpec] = {
    # ebMS processing errors (ICD Table 20)
    "EBMS:0001": EbmsErrorSpec(
        "ValueNotRecognized", "failure", "Content", "ebMS",
        "Although the message document is well formed and schema valid, some element/attribute "
        "contains a value that could not be recognized and therefore could not be used by the MSH."),
    "EBMS:0002": EbmsErrorSpec(
        "FeatureNotSupported", "warning", "Content", "ebMS",
        "Although the message document is well formed and schema valid, some element/attribute value "
        "cannot be processed as expected because the related feature is not supported by the MSH."),
    "EBMS:0003": EbmsErrorSpec(
        "ValueInconsistent", "failure", "Content", "ebMS",
        "Although the message document is well formed and schema valid, some element/attribute value "
        "is inconsistent either with the content of other element/attribute, or with the processing "
        "mode of the MSH, or with the normative requirements of the ebMS specification."),
    "EBMS:0004": EbmsErrorSpec("Other", "failure", "Content", "ebMS", "Other error."),
    "EBMS:0005": EbmsErrorSpec(
        "ConnectionFailure", "failure", "Communication", "ebMS",
        "The MSH is experiencing temporary or permanent failure in trying to open a transport "
        "connection with a remote MSH."),
    "EBMS:0006": EbmsErrorSpec(
        "EmptyMessagePartitionChannel", "warning", "Communication", "ebMS",
        "There is no message available for pulling from this MPC at this moment."),
    "EBMS:0007": EbmsErrorSpec(
        "MimeInconsistency", "failure", "Unpackaging", "ebMS",
        "The use of MIME is not consistent with the required usage in this specification."),
    "EBMS:0008": EbmsErrorSpec(
        "FeatureNotSupported", "failure", "Unpackaging", "ebMS",
        "Although the message document is well formed and schema valid, the presence or absence of "
        "some element/attribute is not consistent with the capability of the MSH, with respect to "
        "supported features."),
    "EBMS:0009": EbmsErrorSpec(
        "InvalidHeader", "failure", "Unpackaging", "ebMS",
        "The ebMS header is either not well formed as an XML document, or does not conform to the "
        "ebMS packaging rules."),
    "EBMS:0010": EbmsErrorSpec(
        "ProcessingModeMismatch", "failure", "Processing", "ebMS",
        "The ebMS header or another header (e.g. reliability, security) expected by the MSH is not "
        "compatible with the expected content, based on the associated P-Mode."),
    "EBMS:0011": EbmsErrorSpec(
        "ExternalPayloadError", "failure", "Content", "ebMS",
        "The MSH is unable to resolve an external payload reference (i.e. a Part that is not "
        "contained within the ebMS Message, as identified by a PartInfo/href URI)."),
    # Security processing errors (ICD Table 21)
    "EBMS:0101": EbmsErrorSpec(
        "FailedAuthentication", "failure", "Processing", "security",
        "The signature in the Security header intended for the \"ebms\" SOAP actor, could not be "
        "validated by the Security module."),
    "EBMS:0102": EbmsErrorSpec(
        "FailedDecryption", "failure", "Processing", "security",
        "The encrypted data reference the Security header intended for the \"ebms\" SOAP actor could "
        "not be decrypted by the Security Module."),
    "EBMS:0103": EbmsErrorSpec(
        "PolicyNoncompliance", "failure", "Processing", "security",
        "The processor determined that the message's security methods, parameters, scope or other "
        "security policy-level requirements or agreements were not satisfied."),
    # Reliable messaging errors (ICD Table 22)
    "EBMS:0201": EbmsErrorSpec(
        "DysfunctionalReliability", "failure", "Processing", "reliability",
        "Some reliability function as implemented by the Reliability module, is not operational, or "
        "the reliability state associated with this message sequence is not valid."),
    "EBMS:0202": EbmsErrorSpec(
        "DeliveryFailure", "failure", "Communication", "reliability",
        "Although the message was sent under Guaranteed delivery requirement, the Reliability module "
        "could not get assurance that the message was properly delivered, in spite of resending "
        "efforts."),
    # AS4 feature errors (ICD Table 23)
    "EBMS:0301": EbmsErrorSpec(
        "MissingReceipt", "failure", "Communication", "ebMS",
        "A Receipt has not been received for a message that was previously sent by the MSH "
        "generating this error."),
    "EBMS:0302": EbmsErrorSpec(
        "InvalidReceipt", "failure", "Communication", "ebMS",
        "A Receipt has been received for a message that was previously sent by the MSH generating "
        "this error, but the content does not match the message content (e.g. some part has not been "
        "acknowledged, or the digest associated does not match the signature digest, for NRR)."),
    "EBMS:0303": EbmsErrorSpec(
        "DecompressionFailure", "failure", "Communication", "ebMS",
        "An error occurred during the decompression."),
}  # fmt: skip

#: UUM&DS sub-codes carried with EBMS:0004 (ICD Annex 4 Table 24).
SUB_CODES: dict[str, str] = {
    "A001": "UUM&DS rejected the authorization and the incoming message is rejected.",
    "A002": "Technical user trying to connect to the rest API is rejected.",
    "A003": "Internal UUM&DS error, or UUM&DS is down.",
}


def normalise_code(code: str) -> str:
    """Accept 'EBMS:0101', 'ebms:0101', '0101' or '101' and return 'EBMS:0101'."""
    digits = code.strip().upper().removeprefix("EBMS:")
    if not digits.isdigit():
        raise ValueError(f"not an ebMS error code: {code!r}")
    return f"EBMS:{int(digits):04d}"


class EbmsError(Exception):
    """A refusal with a precise ebMS error code (ebMS3 §6.2); raised by every AS4 codec check."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        ref_to_message_id: str | None = None,
        sub_code: str | None = None,
    ) -> None:
        self.code = normalise_code(code)
        if self.code not in EBMS_ERRORS:
            raise ValueError(f"unknown ebMS error code {code!r}")
        self.detail = detail
        self.ref_to_message_id = ref_to_message_id
        self.sub_code = sub_code
        super().__init__(str(self))

    @property
    def spec(self) -> EbmsErrorSpec:
        return EBMS_ERRORS[self.code]

    @property
    def short_description(self) -> str:
        return self.spec.short_description

    @property
    def severity(self) -> str:
        return self.spec.severity

    @property
    def category(self) -> str:
        return self.spec.category

    @property
    def origin(self) -> str:
        return self.spec.origin

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def error_detail(self) -> str:
        """The eb:ErrorDetail text: 'A001: <detail>' when a sub-code is set (ICD Table 24)."""
        if self.sub_code:
            return f"{self.sub_code}: {self.detail or SUB_CODES.get(self.sub_code, '')}".rstrip()
        return self.detail

    def __str__(self) -> str:
        text = f"{self.code} {self.short_description}"
        detail = self.error_detail
        return f"{text}: {detail}" if detail else text

    def __reduce__(self) -> tuple[type[EbmsError], tuple[str, str, str | None, str | None]]:
        return (EbmsError, (self.code, self.detail, self.ref_to_message_id, self.sub_code))

    def __repr__(self) -> str:
        return (
            f"EbmsError({self.code!r}, {self.detail!r}, ref_to_message_id={self.ref_to_message_id!r}, "
            f"sub_code={self.sub_code!r})"
        )
