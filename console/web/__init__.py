"""The web console: server-rendered pages (Jinja2, htmx, bundled ECharts) over the same
services as the API, for the four roles. zh-CN first; nothing is loaded from outside."""
