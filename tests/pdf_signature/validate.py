"""Validates the first signature of a PDF with pyHanko (tests/stamp.rs).

usage: validate.py FILE.pdf CERT.pem
Prints one line: intact, valid, trusted, coverage, modification level.
"""
import sys

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

pdf_path, cert_path = sys.argv[1:3]
root = load_cert_from_pemder(cert_path)
with open(pdf_path, "rb") as f:
    reader = PdfFileReader(f)
    sig = reader.embedded_signatures[0]
    status = validate_pdf_signature(sig, ValidationContext(trust_roots=[root]))
    level = status.modification_level.name if status.modification_level else "NONE"
    print(
        f"intact={status.intact} valid={status.valid} trusted={status.trusted} "
        f"coverage={status.coverage.name} modification_level={level}"
    )
