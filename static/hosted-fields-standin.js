// Placeholder: replaced by the demo stand-in for Payroc's Hosted Fields library.
