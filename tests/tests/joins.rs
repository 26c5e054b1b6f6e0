//! Joins along declared relationships into pairs of entities, as
//! `session.execute(select(User, Post).outerjoin(User.posts))` gives a
//! SQLAlchemy user: every user with each of its posts (or none), both sides
//! through the identity map, one statement; the query's filter, order and
//! limit choose the users.

use orm_core::Handle;
use orm_core::prelude::*;
use tests::backend_tests;

#[entity(table = "jn_users")]
pub struct User {
    #[key(auto)]
    pub id: i64,
    #[column(len = 20)]
    pub name: String,
    pub age: i32,
    #[has_many(Post, by = "user_id")]
    pub posts: Many<Post>,
}

#[entity(table = "jn_posts")]
pub struct Post {
    #[key(auto)]
    pub id: i64,
    #[column(references = User)]
    pub user_id: i64,
    #[column(len = 20)]
    pub title: String,
    /// The same column name as the user's: the join must keep them apart.
    pub age: i32,
    #[belongs_to(User, by = "user_id")]
    pub author: Ref<User>,
}

async fn seeded(db: &Database) -> Result<()> {
    db.create_all(&[User::schema(), Post::schema()]).await?;
    let mut s = db.session();
    let mut users = Vec::new();
    for (name, age) in [("ann", 30), ("bob", 40), ("cy", 50)] {
        users.push(s.add(User {
            id: 0,
            name: name.into(),
            age,
            posts: Many::new(),
        }));
    }
    s.flush().await?;
    for (u, title, age) in [(0, "a1", 1), (0, "a2", 2), (2, "c1", 3)] {
        let user_id = users[u].read().id;
        s.add(Post {
            id: 0,
            user_id,
            title: title.into(),
            age,
            author: Ref::new(),
        });
    }
    s.commit().await
}

fn titles(pairs: &[(Handle<User>, Option<Handle<Post>>)]) -> Vec<(String, Option<String>)> {
    pairs
        .iter()
        .map(|(u, p)| {
            (
                u.read().name.clone(),
                p.as_ref().map(|p| p.read().title.clone()),
            )
        })
        .collect()
}

backend_tests! {
    async fn a_left_join_pairs_each_root_with_each_related_entity(db) {
        seeded(&db).await?;
        let mut s = db.session();
        let before = s.stats().snapshot().statements;
        let pairs = s.query::<User>().order_by(User::NAME.asc()).left_join(User::POSTS).await?;
        assert_eq!(s.stats().snapshot().statements - before, 1);
        assert_eq!(
            titles(&pairs),
            [
                ("ann".into(), Some("a1".into())),
                ("ann".into(), Some("a2".into())),
                ("bob".into(), None),
                ("cy".into(), Some("c1".into())),
            ]
        );
        assert!(Handle::ptr_eq(&pairs[0].0, &pairs[1].0), "one user, one handle");
        assert_eq!((pairs[0].0.read().age, pairs[0].1.as_ref().map(|p| p.read().age)), (30, Some(1)), "same-named columns kept apart");
        // The identity map: a later query returns the same objects.
        let ann = s.query::<User>().filter(User::NAME.eq("ann")).one().await?;
        assert!(Handle::ptr_eq(&ann, &pairs[0].0));

        // The filter, order and limit choose the users (a limit counts users, not pairs).
        let older = s.query::<User>().filter(User::AGE.ge(30)).order_by(User::AGE.desc()).limit(2).left_join(User::POSTS).await?;
        assert_eq!(titles(&older), [("cy".into(), Some("c1".into())), ("bob".into(), None)]);

        // An inner join along a belongs-to.
        let written = s.query::<Post>().filter(Post::AGE.gt(1)).order_by(Post::TITLE.asc()).inner_join(Post::AUTHOR).await?;
        let got: Vec<(String, String)> = written.iter().map(|(p, u)| (p.read().title.clone(), u.read().name.clone())).collect();
        assert_eq!(got, [("a2".to_string(), "ann".to_string()), ("c1".to_string(), "cy".to_string())]);
        assert!(Handle::ptr_eq(&written[0].1, &ann));
        let with_posts = s.query::<User>().order_by(User::NAME.asc()).inner_join(User::POSTS).await?;
        assert_eq!(with_posts.len(), 3);
        Ok(())
    }
}
