import type { FC } from "hono/jsx";

const Layout: FC = (props) => (
  <html>
    <body>{props.children}</body>
  </html>
);

export function renderPage(name: string) {
  return (
    <Layout>
      <h1>Hello, {name}!</h1>
    </Layout>
  );
}
