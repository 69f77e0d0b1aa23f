"""Letters to customers: Jinja2 rendering (autoescape on), split from delivery."""
