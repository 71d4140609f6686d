"""Authorization: default deny; roles and IAM-style policies evaluated in the service layer."""

from skms.authz.authorizer import Authorizer, Binding
from skms.authz.policy import (
    ALL_ACTIONS,
    BUILTIN_ROLES,
    AccessRequest,
    Conditions,
    Decision,
    PolicyDocument,
    Statement,
    evaluate,
)

__all__ = [
    "ALL_ACTIONS",
    "BUILTIN_ROLES",
    "AccessRequest",
    "Authorizer",
    "Binding",
    "Conditions",
    "Decision",
    "PolicyDocument",
    "Statement",
    "evaluate",
]
