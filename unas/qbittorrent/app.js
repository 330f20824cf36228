// The U-NAS desktop runs this file (app.json's appJS). It registers the app's
// window in window.unasApps under the app's name: a title and an icon from
// this directory, and as content the plugin's own page, which the NAS web
// server forwards from this same path to the plugin.
"use strict";

(function (apps) {
  const base = new URL("/apps/qbittorrent/", location.href);
  const translations = fetch(new URL("translation.json", base)).then((answer) => answer.json());

  apps.qbittorrent = {
    icon: new URL("images/icon-128.png", base).href,

    // Builds the window in `container`, titled in the desktop's language
    // (a BCP 47 tag); resolves to the window's element.
    open: async function (container, language) {
      const texts = await translations;
      const text = texts[String(language).toLowerCase().startsWith("zh") ? "zh-CN" : "en"];
      const win = document.createElement("section");
      win.className = "unas-app-window";
      win.setAttribute("aria-label", text.title);
      win.style.cssText = "display:flex;flex-direction:column;width:100%;height:100%";
      const icon = document.createElement("img");
      icon.src = new URL("images/icon.svg", base).href;
      icon.alt = "";
      icon.width = icon.height = 16;
      const title = document.createElement("h2");
      title.textContent = text.title;
      const bar = document.createElement("header");
      bar.append(icon, title);
      const page = document.createElement("iframe");
      page.src = base.href;
      page.title = text.description;
      page.style.cssText = "flex:1;border:0;width:100%";
      win.append(bar, page);
      container.append(win);
      return win;
    },
  };
})(window.unasApps = window.unasApps || {});
